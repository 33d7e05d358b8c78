//! A connection's state (who signed in, with which token, the purpose
//! declared, the state of the lake it reads) and the session commands
//! answered without the query engine.

use crate::cursor::Cursors;
use lagoa_lake::AsOf;
use std::collections::BTreeMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// A connection's setting: a panic elsewhere leaves it a value all the
/// same, so poisoning is ignored.
fn held<T>(setting: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    setting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Who signed in: the user and the token it presented (kept to check it
/// again on every statement; never logged).
pub(crate) struct Login {
    pub user: String,
    pub token: Zeroizing<String>,
}

pub(crate) struct Session {
    pub user: String,
    pub token: Zeroizing<String>,
    /// When the connection signed in (microseconds since the epoch).
    pub since_micros: i64,
    purpose: Mutex<Option<String>>,
    /// `SET lagoa.as_of`: the text as set, and what it reads.
    as_of: Mutex<Option<(String, AsOf)>>,
    /// Client settings (`SET TimeZone ...`), by lowercase name: accepted,
    /// shown back by `SHOW`, with no effect on what is read.
    settings: Mutex<BTreeMap<String, String>>,
    /// `DECLARE`d cursors, until `CLOSE` or their transaction's end.
    cursors: Mutex<Cursors>,
}

/// The settings `SHOW` answers before a client sets them: the query
/// service's defaults (`lagoa_sql::pg_settings`) and the values the server
/// announced at start-up.
pub(crate) fn default_settings(announced: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut settings = lagoa_sql::pg_settings::defaults();
    for (name, value) in announced {
        settings.insert(name.to_ascii_lowercase(), value.clone());
    }
    settings
}

impl Session {
    pub(crate) fn new(login: Login, purpose: Option<String>) -> Self {
        Self {
            user: login.user,
            token: login.token,
            since_micros: lagoa_lake::catalog::now_micros(),
            purpose: Mutex::new(purpose),
            as_of: Mutex::new(None),
            settings: Mutex::new(BTreeMap::new()),
            cursors: Mutex::new(Cursors::default()),
        }
    }

    /// A client setting as set, else its default; `None` for a name the
    /// server does not know.
    pub(crate) fn setting(
        &self,
        name: &str,
        defaults: &BTreeMap<String, String>,
    ) -> Option<String> {
        let name = name.to_ascii_lowercase();
        held(&self.settings)
            .get(&name)
            .or_else(|| defaults.get(&name))
            .cloned()
    }

    /// Every setting as the session has it: `defaults` with the client's
    /// `SET`s over them, and Lagoa's own (`lagoa.purpose`, `lagoa.as_of`)
    /// when set. What `current_setting` and `pg_settings` read.
    pub(crate) fn settings(&self, defaults: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut all = defaults.clone();
        all.extend(
            held(&self.settings)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if let Some(purpose) = self.purpose() {
            all.insert(PURPOSE.to_owned(), purpose);
        }
        if let Some(as_of) = self.as_of_text() {
            all.insert(AS_OF.to_owned(), as_of);
        }
        all
    }

    /// `SET name = value` (`None`: `RESET name`, back to the default).
    pub(crate) fn set(&self, name: &str, value: Option<String>) {
        let name = name.to_ascii_lowercase();
        let mut settings = held(&self.settings);
        match value {
            Some(v) => settings.insert(name, v),
            None => settings.remove(&name),
        };
    }

    /// `RESET ALL`.
    pub(crate) fn reset_all(&self) {
        held(&self.settings).clear();
        self.set_purpose(None);
        *held(&self.as_of) = None;
    }

    /// The state of the lake this session's queries read.
    pub(crate) fn as_of(&self) -> AsOf {
        held(&self.as_of).as_ref().map_or(AsOf::Latest, |(_, a)| *a)
    }

    /// `lagoa.as_of` as set (`SHOW`), if it is.
    pub(crate) fn as_of_text(&self) -> Option<String> {
        held(&self.as_of).as_ref().map(|(t, _)| t.clone())
    }

    /// Sets (or, `None`, resets) `lagoa.as_of`; a value that is neither a
    /// snapshot number nor a time is refused, the setting unchanged.
    pub(crate) fn set_as_of(&self, text: Option<String>) -> Result<(), String> {
        let parsed = match text {
            Some(t) => Some((t.clone(), AsOf::parse(&t)?)),
            None => None,
        };
        *held(&self.as_of) = parsed;
        Ok(())
    }

    /// The connection's open cursors.
    pub(crate) fn cursors(&self) -> std::sync::MutexGuard<'_, Cursors> {
        held(&self.cursors)
    }

    pub(crate) fn purpose(&self) -> Option<String> {
        held(&self.purpose).clone()
    }

    pub(crate) fn set_purpose(&self, purpose: Option<String>) {
        *held(&self.purpose) = purpose;
    }
}

/// A session command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    Begin,
    Commit,
    Rollback,
    /// `SET lagoa.purpose = '...'`; `None` from `RESET lagoa.purpose`.
    SetPurpose(Option<String>),
    /// `SET lagoa.as_of = '12'` (a snapshot) or `'2026-11-22T10:00:00Z'`;
    /// `None` from `RESET lagoa.as_of`.
    SetAsOf(Option<String>),
    /// `RESET ALL`.
    ResetAll,
    /// Other statements clients send (`DEALLOCATE ALL`, `SET SESSION
    /// CHARACTERISTICS ...`): accepted, with their tag.
    Accepted(String),
    /// A client setting: `SET TimeZone = 'America/Sao_Paulo'`, `SET TIME
    /// ZONE ...`; `None` from `RESET name`.
    Set(String, Option<String>),
    /// `SHOW name` of a setting.
    Show(String),
    ShowPurpose,
    ShowAsOf,
    /// `SET name = $n` (the extended protocol): the setting [`bind`] makes
    /// of the portal's parameter.
    SetParam(String, usize),
    /// `SELECT set_config('name', value, is_local)`: sets it (for the
    /// session, whether or not `is_local`: transactions hold nothing here)
    /// and answers the value, in a column named `column`.
    SetConfig {
        name: String,
        value: Given,
        column: String,
    },
}

/// A value given in a session command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Given {
    /// A literal (`None`: NULL).
    Text(Option<String>),
    /// The `$n` parameter, from 1.
    Param(usize),
}

/// The command `name = value` sets (`None`: reset).
pub(crate) fn assignment(name: &str, value: Option<String>) -> Local {
    if name.eq_ignore_ascii_case(PURPOSE) {
        Local::SetPurpose(value)
    } else if name.eq_ignore_ascii_case(AS_OF) {
        Local::SetAsOf(value)
    } else {
        Local::Set(name.to_owned(), value)
    }
}

/// `local` with its `$n` replaced by the portal's `params`; an error
/// (SQLSTATE, message) when one is missing.
pub(crate) fn bind(
    local: &Local,
    params: &[Option<String>],
) -> Result<Local, (&'static str, String)> {
    let param = |n: usize| {
        params
            .get(n.wrapping_sub(1))
            .cloned()
            .ok_or(("42P02", format!("there is no parameter ${n}")))
    };
    Ok(match local {
        Local::SetParam(name, n) => match param(*n)? {
            Some(value) => assignment(name, Some(value)),
            None => return Err(("22023", format!("SET {name} needs a value, not NULL"))),
        },
        Local::SetConfig {
            name,
            value: Given::Param(n),
            column,
        } => Local::SetConfig {
            name: name.clone(),
            value: Given::Text(param(*n)?),
            column: column.clone(),
        },
        other => other.clone(),
    })
}

/// How many parameters `local` takes.
pub(crate) fn param_count(local: &Local) -> usize {
    match local {
        Local::SetParam(_, n)
        | Local::SetConfig {
            value: Given::Param(n),
            ..
        } => *n,
        _ => 0,
    }
}

/// The protocol's parameters are numbered 1 to 65535 (the count is an
/// `Int16`); any other `$n` is no parameter.
fn param_number(text: &str) -> Option<usize> {
    text.parse::<u16>()
        .ok()
        .filter(|n| *n >= 1)
        .map(usize::from)
}

/// `SELECT [pg_catalog.]set_config('name', value, is_local) [AS column]`,
/// nothing more (no `FROM`, `WHERE`, `WITH`, `LIMIT`, ...).
fn set_config(sql: &str) -> Option<Local> {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem, SetExpr, Statement,
        Value,
    };
    // A set_config statement is short; a long text is left to the guard,
    // which bounds what it parses.
    if sql.len() > 4096 || !sql.to_ascii_lowercase().contains("set_config") {
        return None;
    }
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let bare_query = query.with.is_none()
        && query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none();
    let bare_select = select.from.is_empty()
        && select.projection.len() == 1
        && select.selection.is_none()
        && select.having.is_none()
        && select.distinct.is_none()
        && matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    if !bare_query || !bare_select {
        return None;
    }
    let (expr, alias) = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
        _ => return None,
    };
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if name != "set_config" && name != "pg_catalog.set_config" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    let [setting, value, _is_local] = args.as_slice() else {
        return None;
    };
    let text = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                Some(Given::Text(Some(s.clone())))
            }
            Value::Null => Some(Given::Text(None)),
            Value::Placeholder(p) => p.strip_prefix('$').and_then(param_number).map(Given::Param),
            _ => None,
        },
        _ => None,
    };
    let Some(Given::Text(Some(setting))) = text(setting) else {
        return None;
    };
    Some(Local::SetConfig {
        name: setting,
        value: text(value)?,
        column: alias.unwrap_or_else(|| "set_config".to_owned()),
    })
}

const PURPOSE: &str = "lagoa.purpose";
pub(crate) const AS_OF: &str = "lagoa.as_of";

/// The session command `sql` is, if it is one.
pub(crate) fn local_command(sql: &str) -> Option<Local> {
    let sql = sql.trim().trim_end_matches(';').trim();
    let mut words = sql.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    match first.as_str() {
        "BEGIN" | "START" => Some(Local::Begin),
        "COMMIT" | "END" => Some(Local::Commit),
        // Savepoints (psycopg's nested transactions) mean nothing either;
        // rolling back to one leaves the transaction open.
        "ROLLBACK" if words.next().is_some_and(|w| w.eq_ignore_ascii_case("TO")) => {
            Some(Local::Accepted("ROLLBACK".into()))
        }
        "ROLLBACK" | "ABORT" => Some(Local::Rollback),
        "SAVEPOINT" | "RELEASE" => Some(Local::Accepted(first)),
        "DEALLOCATE" | "DISCARD" => Some(Local::Accepted(first)),
        "SET" => {
            let rest = sql[3..].trim_start();
            let rest = strip_keyword(rest, "SESSION")
                .or_else(|| strip_keyword(rest, "LOCAL"))
                .unwrap_or(rest);
            if strip_keyword(rest, "CHARACTERISTICS").is_some() {
                return Some(Local::Accepted("SET".into()));
            }
            let (name, value) = match strip_keyword(rest, "TIME").and_then(|r| {
                let (word, value) = r.split_once(char::is_whitespace)?;
                word.eq_ignore_ascii_case("ZONE").then_some(value)
            }) {
                Some(value) => ("timezone", value.trim()),
                None => split_assignment(rest)?,
            };
            if let Some(n) = value.strip_prefix('$').and_then(param_number) {
                return Some(Local::SetParam(name.to_owned(), n));
            }
            Some(assignment(name, Some(unquote(value))))
        }
        "RESET" => {
            let name = words.next().unwrap_or_default();
            if name.eq_ignore_ascii_case("ALL") {
                Some(Local::ResetAll)
            } else if name.is_empty() {
                None
            } else {
                Some(assignment(name, None))
            }
        }
        // The SQL standard's spellings of two settings.
        "SHOW"
            if sql[4..]
                .split_whitespace()
                .map(str::to_ascii_uppercase)
                .eq(["TRANSACTION", "ISOLATION", "LEVEL"]) =>
        {
            Some(Local::Show("transaction_isolation".into()))
        }
        "SHOW"
            if sql[4..]
                .split_whitespace()
                .map(str::to_ascii_uppercase)
                .eq(["TIME", "ZONE"]) =>
        {
            Some(Local::Show("TimeZone".into()))
        }
        "SHOW" => match words.next() {
            Some(n) if n.eq_ignore_ascii_case(PURPOSE) => Some(Local::ShowPurpose),
            Some(n) if n.eq_ignore_ascii_case(AS_OF) => Some(Local::ShowAsOf),
            // The engine's own: SHOW TABLES, SHOW COLUMNS ...
            Some(n)
                if ["TABLES", "COLUMNS", "FIELDS", "FULL", "ALL"]
                    .iter()
                    .any(|k| n.eq_ignore_ascii_case(k)) =>
            {
                None
            }
            Some(n) if words.next().is_none() => Some(Local::Show(n.to_owned())),
            _ => None,
        },
        "SELECT" => set_config(sql),
        _ => None,
    }
}

fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let (word, rest) = text.split_once(char::is_whitespace)?;
    word.eq_ignore_ascii_case(keyword)
        .then(|| rest.trim_start())
}

/// `name = value` or `name TO value`.
fn split_assignment(text: &str) -> Option<(&str, &str)> {
    if let Some((name, value)) = text.split_once('=') {
        return Some((name.trim(), value.trim()));
    }
    let (name, rest) = text.split_once(char::is_whitespace)?;
    let value = strip_keyword(rest.trim_start(), "TO")?;
    Some((name.trim(), value.trim()))
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else {
        v.to_owned()
    }
}

/// `lagoa.purpose` from the startup `options` (`-c lagoa.purpose=...`,
/// spaces escaped with a backslash, as libpq's PGOPTIONS).
pub(crate) fn purpose_from_options(options: &str) -> Option<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    let mut found = None;
    let mut i = 0;
    while i < tokens.len() {
        let setting = match tokens[i].as_str() {
            "-c" => {
                i += 1;
                tokens.get(i).map(String::as_str)
            }
            t => t.strip_prefix("-c").or_else(|| t.strip_prefix("--")),
        };
        if let Some((name, value)) = setting.and_then(|s| s.split_once('='))
            && name.eq_ignore_ascii_case(PURPOSE)
        {
            found = Some(value.to_owned());
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_session_commands_are_bound_and_bounded() {
        assert_eq!(
            local_command("SET lagoa.purpose = $1"),
            Some(Local::SetParam("lagoa.purpose".into(), 1))
        );
        let bound = bind(
            &local_command("SET lagoa.purpose = $1").unwrap(),
            &[Some("x".into())],
        );
        assert_eq!(bound, Ok(Local::SetPurpose(Some("x".into()))));
        assert_eq!(
            bind(&Local::SetParam("x".into(), 2), &[None]).map_err(|e| e.0),
            Err("42P02")
        );
        // Past the protocol's 65535 parameters, `$n` is no parameter.
        let huge = local_command("SET application_name = $1000000000000").unwrap();
        assert_eq!(param_count(&huge), 0);
        assert_eq!(
            local_command("SELECT set_config('x', $99999999999, false)"),
            None
        );
        assert_eq!(
            local_command("SELECT set_config('lagoa.purpose', $1, false) AS p"),
            Some(Local::SetConfig {
                name: "lagoa.purpose".into(),
                value: Given::Param(1),
                column: "p".into(),
            })
        );
        // Anything more than the call is a query, for the guard.
        assert_eq!(
            local_command("SELECT set_config('lagoa.purpose', 'p', false) LIMIT 0"),
            None
        );
        assert_eq!(
            local_command("SELECT set_config('lagoa.purpose', 'p', false) FROM obitos"),
            None
        );
    }

    #[test]
    fn session_commands_are_recognised() {
        assert_eq!(local_command("begin;"), Some(Local::Begin));
        assert_eq!(local_command("COMMIT"), Some(Local::Commit));
        assert_eq!(
            local_command("SET lagoa.purpose = 'investigação de óbito'"),
            Some(Local::SetPurpose(Some("investigação de óbito".into())))
        );
        assert_eq!(
            local_command("set session lagoa.purpose to 'it''s'"),
            Some(Local::SetPurpose(Some("it's".into())))
        );
        assert_eq!(
            local_command("SET extra_float_digits = 3"),
            Some(Local::Set("extra_float_digits".into(), Some("3".into())))
        );
        assert_eq!(
            local_command("SET TIME ZONE 'America/Sao_Paulo'"),
            Some(Local::Set(
                "timezone".into(),
                Some("America/Sao_Paulo".into())
            ))
        );
        assert_eq!(
            local_command(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"
            ),
            Some(Local::Accepted("SET".into()))
        );
        assert_eq!(
            local_command("RESET TimeZone"),
            Some(Local::Set("TimeZone".into(), None))
        );
        assert_eq!(
            local_command("SHOW search_path"),
            Some(Local::Show("search_path".into()))
        );
        assert_eq!(
            local_command("show transaction isolation level"),
            Some(Local::Show("transaction_isolation".into()))
        );
        assert_eq!(
            local_command("SAVEPOINT _pg3_1"),
            Some(Local::Accepted("SAVEPOINT".into()))
        );
        assert_eq!(
            local_command("ROLLBACK TO SAVEPOINT _pg3_1"),
            Some(Local::Accepted("ROLLBACK".into()))
        );
        assert_eq!(local_command("ROLLBACK"), Some(Local::Rollback));
        assert_eq!(
            local_command("SHOW TIME ZONE"),
            Some(Local::Show("TimeZone".into()))
        );
        assert_eq!(
            local_command("RESET lagoa.purpose"),
            Some(Local::SetPurpose(None))
        );
        assert_eq!(
            local_command("SHOW lagoa.purpose"),
            Some(Local::ShowPurpose)
        );
        assert_eq!(
            local_command("SET lagoa.as_of = '12'"),
            Some(Local::SetAsOf(Some("12".into())))
        );
        assert_eq!(
            local_command("RESET lagoa.as_of"),
            Some(Local::SetAsOf(None))
        );
        assert_eq!(local_command("RESET ALL"), Some(Local::ResetAll));
        assert_eq!(local_command("show LAGOA.AS_OF"), Some(Local::ShowAsOf));
        assert_eq!(local_command("SELECT 1"), None);
        assert_eq!(local_command("SHOW TABLES"), None);
        assert_eq!(local_command(""), None);
    }

    #[test]
    fn the_purpose_comes_from_startup_options() {
        assert_eq!(
            purpose_from_options(r"-c lagoa.purpose=vigilância\ de\ óbitos -c x=1"),
            Some("vigilância de óbitos".into())
        );
        assert_eq!(purpose_from_options("-clagoa.purpose=a"), Some("a".into()));
        assert_eq!(purpose_from_options("--lagoa.purpose=b"), Some("b".into()));
        assert_eq!(purpose_from_options("-c statement_timeout=5"), None);
    }
}
