//! The `lagoa.toml` that `lagoa init` writes: every option with its
//! default and a comment saying what it does.

use super::LakeConfig;

/// The default `lagoa.toml` written by `lagoa init`, with every option
/// commented: the header, then each section.
pub fn render_documented(config: &LakeConfig) -> String {
    [
        DOCUMENTED_HEADER.to_owned(),
        storage_sections(config),
        data_sections(config),
        query_section(config),
        daemon_section(config),
        serving_sections(config),
        oidc_section(config),
        super::cluster::documented(config),
    ]
    .join("\n")
}

const DOCUMENTED_HEADER: &str = "\
# Lagoa lake configuration. Every option is described in docs/configuration.md.
# Any option can be overridden from the environment: LAGOA__SECTION__KEY,
# for example LAGOA__CATALOG__URL=postgres://lagoa@db/lagoa.
";

fn storage_sections(config: &LakeConfig) -> String {
    let opt = |v: &Option<String>, key: &str, example: &str| match v {
        Some(v) => format!("{key} = {v:?}"),
        None => format!("# {key} = {example:?}"),
    };
    format!(
        r#"[catalog]
# Where snapshots, datasets, files and statistics are recorded.
# sqlite://<file> (relative to this directory) for one machine,
# postgres://user@host:5432/db for production and several processes.
url = {catalog:?}

[storage]
# Where the encrypted files live: file://<dir> (relative to this directory),
# file:///absolute/dir, memory:// (tests), or s3://bucket/prefix.
url = {storage:?}
# For s3:// only. Credentials come from the environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
{endpoint}
{region}
# Plain http:// endpoints are refused unless this is true.
allow_http = {allow_http}
# S3 requests: retries (connection cut, 5xx, throttling), how long to keep
# retrying one request, and how long one may take.
max_retries = {max_retries}
retry_timeout_seconds = {retry_timeout}
timeout_seconds = {timeout}
"#,
        catalog = config.catalog.url,
        storage = config.storage.url,
        endpoint = opt(
            &config.storage.endpoint,
            "endpoint",
            "https://s3.example.gov.br"
        ),
        region = opt(&config.storage.region, "region", "us-east-1"),
        allow_http = config.storage.allow_http,
        max_retries = config.storage.max_retries,
        retry_timeout = config.storage.retry_timeout_seconds,
        timeout = config.storage.timeout_seconds,
    )
}

fn data_sections(config: &LakeConfig) -> String {
    format!(
        r#"[keys]
# Master keys that wrap every file's data keys. "local" is a key file on
# this machine (mode 0600): fine for one machine, not for production.
# "pkcs11" keeps them inside a hardware security module's token, where
# they are generated and never leave.
provider = {provider:?}
path = {keys_path:?}
# local: the key file's keys are sealed by a seal key kept outside the lake:
# "key-file" (seal_key_file; empty means the file named when the key store
# was made, under ~/.config/lagoa/seal/) or "passphrase" (Argon2id; from
# the variable first, else the file, mode 0600). Keep the seal apart from
# the lake's backups: without it no file can be read.
seal = {seal:?}
seal_key_file = {seal_key_file:?}
seal_passphrase_env = {seal_passphrase_env:?}
seal_passphrase_file = {seal_passphrase_file:?}
# pkcs11: the vendor's module, the token's label, and where the user PIN
# comes from (the variable first, else the file, mode 0600).
pkcs11_module = {pkcs11_module:?}
pkcs11_token = {pkcs11_token:?}
pkcs11_pin_env = {pkcs11_pin_env:?}
pkcs11_pin_file = {pkcs11_pin_file:?}
# kms: a service speaking the AWS KMS API (credentials from AWS_ACCESS_KEY_ID
# and AWS_SECRET_ACCESS_KEY); aliases alias/<prefix><dataset>/<purpose>/v<N>;
# a shredded key is deleted by the service after kms_deletion_days (7-30).
kms_endpoint = {kms_endpoint:?}
kms_region = {kms_region:?}
kms_allow_http = {kms_allow_http}
kms_alias_prefix = {kms_alias_prefix:?}
kms_deletion_days = {kms_deletion_days}
kms_timeout_seconds = {kms_timeout_seconds}
# Set by `lagoa keys migrate`: the provider the lake's earlier keys came
# from; they are kept in the catalog, wrapped by this provider's keys.
moved_from = {moved_from:?}

[encryption]
# Parquet Modular Encryption on every data file. Leave it on.
enabled = {enabled}

[retention]
# Time travel reaches back this far; `lagoa vacuum` expires older snapshots.
snapshots = {snapshots:?}
# Files the catalog does not name are removed only when older than this.
orphan_min_age = {orphan:?}

[writer]
# Rows per data file and per Parquet row group.
target_file_rows = {target_rows}
row_group_rows = {rg_rows}
# Memory for sorting rows by the dataset's reference date before they are
# written, so queries over a period skip other periods' row groups ("0": off).
sort_memory = {sort_memory:?}
"#,
        provider = config.keys.provider,
        keys_path = config.keys.path,
        seal = config.keys.seal,
        seal_key_file = config.keys.seal_key_file,
        seal_passphrase_env = config.keys.seal_passphrase_env,
        seal_passphrase_file = config.keys.seal_passphrase_file,
        pkcs11_module = config.keys.pkcs11_module,
        pkcs11_token = config.keys.pkcs11_token,
        pkcs11_pin_env = config.keys.pkcs11_pin_env,
        pkcs11_pin_file = config.keys.pkcs11_pin_file,
        kms_endpoint = config.keys.kms_endpoint,
        kms_region = config.keys.kms_region,
        kms_allow_http = config.keys.kms_allow_http,
        kms_alias_prefix = config.keys.kms_alias_prefix,
        kms_deletion_days = config.keys.kms_deletion_days,
        kms_timeout_seconds = config.keys.kms_timeout_seconds,
        moved_from = config.keys.moved_from,
        enabled = config.encryption.enabled,
        snapshots = config.retention.snapshots,
        orphan = config.retention.orphan_min_age,
        target_rows = config.writer.target_file_rows,
        rg_rows = config.writer.row_group_rows,
        sort_memory = config.writer.sort_memory,
    )
}

fn query_section(config: &LakeConfig) -> String {
    format!(
        r#"[query]
# Memory one query may use. Queries never spill to disk (spill files would
# hold plaintext); a query that needs more fails with a clear error.
memory_limit = {memory:?}
# Filter rows while decoding Parquet (late materialization). Row groups and
# pages are pruned by the query's predicate either way.
filter_pushdown = {pushdown}
# Limits of governed queries (with a token: CLI, HTTP API, PostgreSQL port).
# The timeout covers checking, planning and running; the shape of a
# statement is bounded before it is planned.
max_rows = {max_rows}
timeout_seconds = {query_timeout}
max_sql_bytes = {max_sql}
max_depth = {max_depth}
max_expression_nodes = {max_nodes}
max_relations = {max_relations}
# Server-side cursors (PostgreSQL port, DECLARE ... CURSOR) stream their rows
# as the client fetches them (max_rows rows at most per FETCH), under these
# instead of max_rows and timeout_seconds for the whole cursor; a cursor not
# fetched for cursor_idle_seconds is stopped.
cursor_max_rows = {cursor_max_rows}
cursor_timeout_seconds = {cursor_timeout}
cursor_idle_seconds = {cursor_idle}
# Cursors one principal may hold open at once (each holds one of its
# max_per_principal places while open).
cursor_max_per_principal = {cursor_per_principal}
# Admission: queries running at once, in all and per principal; others wait
# in a queue of max_queued for up to queue_timeout_seconds, then are refused.
max_concurrent = {max_concurrent}
max_per_principal = {max_per_principal}
max_queued = {max_queued}
queue_timeout_seconds = {queue_timeout}
# A query running longer than this yields the CPU to younger queries.
background_after_ms = {background_after}
# `lagoa serve` speaks the PostgreSQL protocol here, for psql, DBeaver,
# Metabase or Power BI (user: principal, password: API token); "" for none.
pg_listen = {pg_listen:?}
# Where governed queries run: "local", or "ballista" on the cluster whose
# scheduler listens at `scheduler` (lagoa cluster scheduler / executor). With
# scheduler_fallback = true a query runs locally while the scheduler is down.
engine = {engine:?}
scheduler = {scheduler:?}
scheduler_fallback = {fallback}
"#,
        memory = config.query.memory_limit,
        pushdown = config.query.filter_pushdown,
        max_rows = config.query.max_rows,
        query_timeout = config.query.timeout_seconds,
        max_sql = config.query.max_sql_bytes,
        max_depth = config.query.max_depth,
        max_nodes = config.query.max_expression_nodes,
        max_relations = config.query.max_relations,
        cursor_max_rows = config.query.cursor_max_rows,
        cursor_timeout = config.query.cursor_timeout_seconds,
        cursor_idle = config.query.cursor_idle_seconds,
        cursor_per_principal = config.query.cursor_max_per_principal,
        max_concurrent = config.query.max_concurrent,
        max_per_principal = config.query.max_per_principal,
        max_queued = config.query.max_queued,
        queue_timeout = config.query.queue_timeout_seconds,
        background_after = config.query.background_after_ms,
        pg_listen = config.query.pg_listen,
        engine = config.query.engine,
        scheduler = config.query.scheduler,
        fallback = config.query.scheduler_fallback,
    )
}

fn daemon_section(config: &LakeConfig) -> String {
    format!(
        r#"[daemon]
# `lagoa daemon` runs the *.source.toml files of this folder on their
# schedules (relative to this directory).
sources = {sources:?}
# Sources running at once.
concurrency = {concurrency}
# A running source's lease in the catalog; renewed every third of it. A
# daemon that dies leaves its sources to others after this long.
lease_seconds = {lease}
# On SIGTERM/SIGINT, runs under way get this long to finish.
shutdown_grace_seconds = {grace}
# /metrics (Prometheus), /healthz and /readyz; "" for none.
listen = {listen:?}
# Alerts (failed runs, repeated failures, late datasets) go to the webhook
# whose URL is in this environment variable (Slack, Teams, Mattermost).
alert_webhook_env = {webhook_env:?}
repeated_failures = {repeated}
# Late: nothing committed for the agreement's interval plus this.
late_grace_hours = {late_grace}
# Every this many hours, read every object of the lake in full (as
# `lagoa check --deep`) and alert on damage; 0 turns it off.
deep_check_hours = {deep_check}
# Every this many hours, compact every dataset (as `lagoa compact`: small
# files merged, upserts' deleted rows folded); 0 turns it off.
compact_hours = {compact}
"#,
        sources = config.daemon.sources,
        concurrency = config.daemon.concurrency,
        lease = config.daemon.lease_seconds,
        grace = config.daemon.shutdown_grace_seconds,
        listen = config.daemon.listen,
        webhook_env = config.daemon.alert_webhook_env,
        repeated = config.daemon.repeated_failures,
        late_grace = config.daemon.late_grace_hours,
        deep_check = config.daemon.deep_check_hours,
        compact = config.daemon.compact_hours,
    )
}

fn serving_sections(config: &LakeConfig) -> String {
    format!(
        r#"[console]
# `lagoa serve`: the operators' web console. Sign in with a token from
# `lagoa token create <user>`; operators and admins may trigger, pause and
# resume sources.
listen = {console_listen:?}
# Times on its pages are shown in this zone.
timezone = {console_tz:?}
# Set to true behind an HTTPS terminator (with [tls] the cookie is Secure anyway).
secure_cookie = {secure_cookie}

[tls]
# The certificate chain and key (PEM files) of `lagoa serve`'s doors: the
# console and the API over HTTPS, the PostgreSQL port's TLS; "" for none.
# `kill -HUP` the server to read them again (a renewed certificate): open
# connections keep theirs. Without a certificate, a door on an address other
# than loopback is refused at start.
cert_file = {tls_cert:?}
key_file = {tls_key:?}
# Accept plaintext beyond loopback anyway (passwords and rows in clear).
allow_plaintext = {tls_plain}

[indicators]
# Indicator definitions: *.sql files with a header (relative to this
# directory); `lagoa indicator init` copies Lagoa's reference set here.
dir = {indicators_dir:?}
# How often the daemon runs indicators whose sources changed (and cron
# ones that are due); 0: never (run them with `lagoa indicator run`).
check_seconds = {indicators_check}

[audit]
# The head of the audit trail is also kept in the object store
# (audit/anchor.json, signed), so `lagoa audit verify` finds entries deleted
# from the trail's end. A process moves it at most this often (seconds).
anchor_interval_seconds = {anchor_interval}

[governance]
# A personal column with fewer distinct values than this cannot be
# pseudonymised (frequencies alone match its pseudonyms to its values):
# remove it or generalise it (a code to its prefix, a date to its month).
min_pseudonym_distinct = {min_distinct}
"#,
        console_listen = config.console.listen,
        console_tz = config.console.timezone,
        secure_cookie = config.console.secure_cookie,
        tls_cert = config.tls.cert_file,
        tls_key = config.tls.key_file,
        tls_plain = config.tls.allow_plaintext,
        indicators_dir = config.indicators.dir,
        indicators_check = config.indicators.check_seconds,
        anchor_interval = config.audit.anchor_interval_seconds,
        min_distinct = config.governance.min_pseudonym_distinct,
    )
}

fn oidc_section(config: &LakeConfig) -> String {
    let o = &config.oidc;
    let list = |v: &[String]| format!("{v:?}");
    let roles = if o.roles.is_empty() {
        "# \"lagoa-analistas\" = \"analyst\"\n# \"lagoa-operadores\" = \"operator\"\n".to_owned()
    } else {
        o.roles
            .iter()
            .map(|(group, role)| format!("{group:?} = {role:?}\n"))
            .collect()
    };
    format!(
        r#"[oidc]
# Sign-in through the state's identity provider (OpenID Connect: gov.br, a
# Keycloak realm). "" turns it off: then only Lagoa's tokens sign in.
# People then sign in to the console through the provider, and the API and
# the PostgreSQL port (as the password) accept the provider's access tokens.
issuer = {issuer:?}
# The console's client at the provider; its secret is read from the
# environment variable named here, never from this file.
client_id = {client_id:?}
client_secret_env = {secret_env:?}
# The console's public address followed by /login/oidc/callback ("": the
# console offers no sign-in through the provider, tokens still work).
redirect_uri = {redirect:?}
# Scopes asked for at sign-in, besides openid.
scopes = {scopes}
# The audience an access token must name: the API's at the provider, not
# client_id (the console's ID tokens carry that one).
audience = {audience:?}
# The typ header an access token must carry (RFC 9068; Keycloak: "JWT").
access_token_types = {types}
# When not empty: the clients (azp or client_id claim) whose access tokens
# are accepted.
authorized_parties = {parties}
# Signature algorithms accepted (asymmetric ones only).
algorithms = {algorithms}
# The claim that names a person: sub, or one such as cpf (the catalog keeps
# only a keyed digest of its value). `lagoa user link` ties it to a
# principal. A claim other than sub must be one only the provider's admins
# can change (a person able to set it could sign in as another).
person_claim = {person:?}
# A person the lake does not know yet: "refuse", or "create" them on their
# first sign-in (named by name_claim, in the institution institution_claim
# names, with the highest role their groups map to in [oidc.roles]).
unknown_people = {unknown:?}
name_claim = {name_claim:?}
roles_claim = {roles_claim:?}
institution_claim = {institution_claim:?}
# A console session through the provider lasts this long (minutes).
session_minutes = {session}
# A PostgreSQL connection signed in with an access token lasts this long at
# most (minutes; its statements re-check all but the token's expiry).
connection_minutes = {connection}
# Clock difference tolerated on tokens' times (seconds).
leeway_seconds = {leeway}
# The provider's signing keys are fetched again after this long (seconds);
# a token signed by an unknown key fetches them at once, at most every 10 s.
keys_max_age_seconds = {keys_age}
# CA certificates (PEM) to trust for the provider besides the system's.
ca_file = {ca:?}

# Let [oidc.roles] give the steward role (whoever manages that group at the
# provider would then decide who reads the institution's data).
groups_make_stewards = {stewards}

[oidc.roles]
# A group of roles_claim = the Lagoa role it gives (analyst, operator, or
# steward with groups_make_stewards; admins are added with `lagoa user add`).
{roles}"#,
        issuer = o.issuer,
        client_id = o.client_id,
        secret_env = o.client_secret_env,
        redirect = o.redirect_uri,
        scopes = list(&o.scopes),
        audience = o.audience,
        types = list(&o.access_token_types),
        parties = list(&o.authorized_parties),
        algorithms = list(&o.algorithms),
        person = o.person_claim,
        unknown = match o.unknown_people {
            crate::config::UnknownPeople::Refuse => "refuse",
            crate::config::UnknownPeople::Create => "create",
        },
        name_claim = o.name_claim,
        roles_claim = o.roles_claim,
        institution_claim = o.institution_claim,
        session = o.session_minutes,
        connection = o.connection_minutes,
        stewards = o.groups_make_stewards,
        leeway = o.leeway_seconds,
        keys_age = o.keys_max_age_seconds,
        ca = o.ca_file,
    )
}
