//! What people read, in their language: English (the text errors are
//! written in, and what logs and the audit trail keep) or Brazilian
//! Portuguese.
//!
//! Errors are written once, in English, where they happen. A door that
//! answers a person (the HTTP API today) translates the text with
//! [`in_language`]: the catalog below pairs each English message with its
//! Portuguese, `{}` standing for what the message names (a dataset, a
//! column, a number). What a placeholder holds is translated in turn, so
//! `denied: {}` and the guard's reason inside it are both Portuguese. A
//! text the catalog does not hold (an engine's own message) is kept as it
//! is: the caller still reads what went wrong, after a headline in their
//! language that the door adds.

use std::sync::OnceLock;

/// A language Lagoa answers in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Pt,
}

impl Lang {
    /// The language of a tag (`pt`, `pt-BR`, `en-US`), if Lagoa speaks it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("pt") {
            Some(Lang::Pt)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language an `Accept-Language` header prefers among Lagoa's
    /// (the highest weight; the first of equal weights), English when it
    /// names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else {
                continue;
            };
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The tag of `Content-Language`: `en` or `pt-BR`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pt => "pt-BR",
        }
    }

    /// The text in this language.
    pub fn t(self, en: &'static str, pt: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Pt => pt,
        }
    }
}

/// English messages and their Portuguese. `{}` stands for a part of the
/// message that names something; it is translated in turn.
const CATALOG: &[(&str, &str)] = &[
    // How a governed query ends without an answer.
    ("denied: {}", "negado: {}"),
    ("invalid: {}", "inválido: {}"),
    ("the query failed: {}", "a consulta falhou: {}"),
    (
        "the query ran longer than {} and was stopped",
        "a consulta passou de {} e foi interrompida",
    ),
    (
        "the query was stopped: {}",
        "a consulta foi interrompida: {}",
    ),
    (
        "the result has more than {} rows; narrow the query or add LIMIT",
        "o resultado tem mais de {} linhas; restrinja a consulta ou use LIMIT",
    ),
    (
        "the query needs more memory than query.memory_limit ({}); narrow it or aggregate first",
        "a consulta precisa de mais memória que query.memory_limit ({}); restrinja-a ou agregue antes",
    ),
    (
        "an internal error stopped the query ({}); it was recorded and the service goes on",
        "um erro interno interrompeu a consulta ({}); ele foi registrado e o serviço continua",
    ),
    (
        "the query service is full: {} queries are running and {} waiting; try again in a moment",
        "o serviço de consultas está cheio: {} consultas em execução e {} esperando; tente de novo em instantes",
    ),
    (
        "your query waited {} for a place: {} of your queries are running (query.max_per_principal = {}); wait for them or cancel one",
        "sua consulta esperou {} por uma vaga: {} consultas suas estão em execução (query.max_per_principal = {}); espere por elas ou cancele uma",
    ),
    (
        "your query waited {} for a place: {} queries are running (query.max_concurrent = {}); try again in a moment",
        "sua consulta esperou {} por uma vaga: {} consultas estão em execução (query.max_concurrent = {}); tente de novo em instantes",
    ),
    // The guard.
    ("the statement is empty", "o comando está vazio"),
    (
        "the statement is {} bytes long; the limit is {}",
        "o comando tem {} bytes; o limite é {}",
    ),
    (
        "the statement does not parse: {}",
        "o comando não é SQL válido: {}",
    ),
    (
        "send one statement at a time ({} were sent)",
        "envie um comando por vez (foram enviados {})",
    ),
    (
        "{} statements are not allowed: only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE",
        "comandos {} não são permitidos: só SELECT, WITH, EXPLAIN, SHOW e DESCRIBE",
    ),
    (
        "table functions are not allowed ({})",
        "funções de tabela não são permitidas ({})",
    ),
    (
        "reading files or URLs is not allowed ({}); query the catalog's tables",
        "ler arquivos ou URLs não é permitido ({}); consulte as tabelas do catálogo",
    ),
    (
        "the {} schema is not available to you",
        "o esquema {} não está disponível para você",
    ),
    (
        "{} is not allowed in analyst SQL",
        "{} não é permitido no SQL de analistas",
    ),
    (
        "the statement nests {} more than {} levels deep; flatten it (an IN list instead of a chain of OR, a join instead of nested subqueries)",
        "o comando aninha {} em mais de {} níveis; simplifique-o (uma lista IN em vez de uma cadeia de OR, uma junção em vez de subconsultas aninhadas)",
    ),
    (
        "the statement has more than {} expression nodes; split it into smaller queries",
        "o comando tem mais de {} nós de expressão; divida-o em consultas menores",
    ),
    (
        "the statement reads more than {} tables once its CTEs are expanded; a CTE read several times is planned once per reference",
        "o comando lê mais de {} tabelas depois de expandidas as CTEs; uma CTE lida várias vezes é planejada uma vez por referência",
    ),
    // The policy.
    (
        "{} is {}: operators run ingestion and read only amplo data; reading it takes an analyst's role",
        "{} é {}: operadores executam a ingestão e leem só dados amplos; lê-lo requer o papel de analista",
    ),
    (
        "{} is especial: it is read only through a grant (file a request for it)",
        "{} é especial: só é lido por meio de uma concessão (faça uma solicitação)",
    ),
    (
        "{} is especial: declare the purpose of this query (one of your grants' purposes)",
        "{} é especial: declare a finalidade desta consulta (uma das finalidades das suas concessões)",
    ),
    (
        "{}: no live grant of yours is for the purpose {} (your grants are for: {})",
        "{}: nenhuma concessão sua em vigor é para a finalidade {} (suas concessões são para: {})",
    ),
    (
        "{} is corporativo: analysts of the agreement's institutions read it",
        "{} é corporativo: analistas das instituições do acordo o leem",
    ),
    (
        "{} is not available to you: no grant of yours gives it for this purpose",
        "{} não está disponível para você: nenhuma concessão sua o dá para esta finalidade",
    ),
    // Signing in.
    (
        "send an API token: Authorization: Bearer <token> (see `lagoa token create`)",
        "envie um token da API: Authorization: Bearer <token> (veja `lagoa token create`)",
    ),
    ("the token was refused: {}", "o token foi recusado: {}"),
    (
        "the identity provider's token was refused: {}",
        "o token do provedor de identidade foi recusado: {}",
    ),
    (
        "the token is not a Lagoa token (expected lagoa_<id>_<secret>)",
        "o token não é um token do Lagoa (esperado lagoa_<id>_<segredo>)",
    ),
    ("unknown token", "token desconhecido"),
    ("token {} expired", "o token {} expirou"),
    ("token {} was revoked", "o token {} foi revogado"),
    ("principal {} is disabled", "o usuário {} está desativado"),
    (
        "too many refused sign-ins from your address; try again in {} s",
        "acessos recusados demais vindos do seu endereço; tente de novo em {} s",
    ),
    (
        "the catalog did not answer; try again",
        "o catálogo não respondeu; tente de novo",
    ),
    // The API's own.
    (
        "no such route {}; the routes are in /api/v1/openapi.json",
        "não há a rota {}; as rotas estão em /api/v1/openapi.json",
    ),
    (
        "{} is not allowed on {}; see /api/v1/openapi.json",
        "{} não é permitido em {}; veja /api/v1/openapi.json",
    ),
    ("no dataset {}", "não há o conjunto de dados {}"),
    ("no indicator {}", "não há o indicador {}"),
    ("no request {}", "não há a solicitação {}"),
    ("no grant {}", "não há a concessão {}"),
    (
        "grant {} was revoked already",
        "a concessão {} já foi revogada",
    ),
    ("no enabled user {}", "não há usuário ativo {}"),
    (
        "no live token with id {}",
        "não há token em vigor com id {}",
    ),
    (
        "{} may not {}: admins do",
        "{} não pode {}: administradores podem",
    ),
    (
        "the Lagoa-Purpose header is not UTF-8",
        "o cabeçalho Lagoa-Purpose não é UTF-8",
    ),
    (
        "the level parameter is not a sharing level: amplo, corporativo or especial",
        "o parâmetro level não é um nível de compartilhamento: amplo, corporativo ou especial",
    ),
    (
        "format {} is not one of json, ndjson, csv, arrow",
        "o formato {} não é json, ndjson, csv nem arrow",
    ),
    ("format {}: json or csv", "formato {}: json ou csv"),
    ("until {}: write YYYY-MM-DD", "until {}: escreva AAAA-MM-DD"),
    // The framework's refusals of a malformed request (axum's texts).
    (
        "Failed to parse the request body as JSON: {}",
        "o corpo da requisição não é JSON válido: {}",
    ),
    (
        "Failed to deserialize the JSON body into the target type: {}",
        "o corpo JSON não tem a forma esperada: {}",
    ),
    (
        "Expected request with `Content-Type: application/json`",
        "envie a requisição com `Content-Type: application/json`",
    ),
    (
        "Failed to buffer the request body: {}",
        "não foi possível ler o corpo da requisição: {}",
    ),
    (
        "Failed to deserialize query string: {}",
        "os parâmetros da URL não têm a forma esperada: {}",
    ),
    ("Invalid URL: {}", "URL inválida: {}"),
    ("missing field {}", "falta o campo {}"),
    ("unknown field {}", "campo desconhecido {}"),
];

/// A catalog entry split at its placeholders.
struct Template {
    en: Vec<&'static str>,
    pt: Vec<&'static str>,
    /// Which templates are tried first: the longest fixed beginning, then
    /// the most fixed text. A wrapper (`denied: {}`) must win over what it
    /// wraps (`{} statements are not allowed: …`), whose placeholder would
    /// otherwise swallow the wrapper's words.
    order: (usize, usize),
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut all: Vec<Template> = CATALOG
            .iter()
            .map(|(en, pt)| Template {
                en: en.split("{}").collect(),
                pt: pt.split("{}").collect(),
                order: (en.split("{}").next().map_or(0, str::len), en.len()),
            })
            .collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.order));
        all
    })
}

/// How deep placeholders are translated (`denied: {}` holding a policy
/// reason is two).
const DEPTH: usize = 4;

/// `text` in `lang`: as it is in English, or translated by the catalog.
/// Whether a translation was found is the second value.
pub fn in_language(lang: Lang, text: &str) -> (String, bool) {
    match lang {
        Lang::En => (text.to_owned(), true),
        Lang::Pt => match translate(text, DEPTH) {
            Some(t) => (t, true),
            None => (text.to_owned(), false),
        },
    }
}

fn translate(text: &str, depth: usize) -> Option<String> {
    if depth == 0 {
        return None;
    }
    templates().iter().find_map(|template| {
        let parts = captures(&template.en, text)?;
        let mut out = String::with_capacity(text.len() + 16);
        for (i, fixed) in template.pt.iter().enumerate() {
            out.push_str(fixed);
            if let Some(part) = parts.get(i) {
                out.push_str(&translate(part, depth - 1).unwrap_or_else(|| (*part).to_owned()));
            }
        }
        Some(out)
    })
}

/// What `text` holds in each placeholder of a template split at them, if
/// it has the template's shape. A placeholder holds at least one
/// character; the last fixed part must end the text.
fn captures<'a>(fixed: &[&str], text: &'a str) -> Option<Vec<&'a str>> {
    let (first, rest) = fixed.split_first()?;
    let mut remaining = text.strip_prefix(first)?;
    let mut out = Vec::with_capacity(rest.len());
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let end = if last {
            remaining.len().checked_sub(part.len())?
        } else {
            let skip = remaining.chars().next()?.len_utf8();
            remaining[skip..].find(part)? + skip
        };
        if end == 0 || !remaining.is_char_boundary(end) || !remaining[end..].starts_with(part) {
            return None;
        }
        out.push(&remaining[..end]);
        remaining = &remaining[end + part.len()..];
    }
    remaining.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(text: &str) -> String {
        let (out, found) = in_language(Lang::Pt, text);
        assert!(found, "not in the catalog: {text}");
        out
    }

    #[test]
    fn nested_messages_are_translated_part_by_part() {
        assert_eq!(
            pt(
                "denied: obitos is especial: it is read only through a grant (file a request for it)"
            ),
            "negado: obitos é especial: só é lido por meio de uma concessão (faça uma solicitação)"
        );
        assert_eq!(
            pt("invalid: send one statement at a time (2 were sent)"),
            "inválido: envie um comando por vez (foram enviados 2)"
        );
        assert_eq!(pt("no dataset obitos"), "não há o conjunto de dados obitos");
        assert_eq!(
            pt(
                "denied: DROP TABLE statements are not allowed: only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE"
            ),
            "negado: comandos DROP TABLE não são permitidos: só SELECT, WITH, EXPLAIN, SHOW e DESCRIBE"
        );
    }

    #[test]
    fn an_engine_message_inside_a_known_one_is_kept_as_it_is() {
        assert_eq!(
            pt("the query failed: Schema error: No field named x"),
            "a consulta falhou: Schema error: No field named x"
        );
        let (text, found) = in_language(Lang::Pt, "Schema error: No field named x");
        assert!(!found);
        assert_eq!(text, "Schema error: No field named x");
        assert_eq!(in_language(Lang::En, "denied: x").0, "denied: x");
    }

    #[test]
    fn a_placeholder_holds_something_and_the_end_must_match() {
        assert!(captures(&["no dataset ", ""], "no dataset ").is_none());
        assert!(captures(&["token ", " expired"], "token 7 expired later").is_none());
        assert_eq!(
            captures(&["", " is ", ": x"], "a is b is c: x"),
            Some(vec!["a", "b is c"])
        );
        assert_eq!(
            captures(&["no dataset ", ""], "no dataset ótimo"),
            Some(vec!["ótimo"])
        );
        assert_eq!(captures(&["", " x"], "é x"), Some(vec!["é"]));
    }

    #[test]
    fn accept_language_picks_the_preferred_language_lagoa_speaks() {
        assert_eq!(
            Lang::from_accept_language("pt-BR,pt;q=0.9,en;q=0.8"),
            Lang::Pt
        );
        assert_eq!(Lang::from_accept_language("en-US,pt;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr, pt;q=0.3"), Lang::Pt);
        assert_eq!(Lang::from_accept_language("fr, de"), Lang::En);
        assert_eq!(Lang::from_accept_language("pt;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn every_entry_has_as_many_placeholders_in_both_languages() {
        for (en, pt) in CATALOG {
            assert_eq!(en.matches("{}").count(), pt.matches("{}").count(), "{en}");
        }
    }
}
