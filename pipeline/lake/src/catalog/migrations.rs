//! Catalog schema, applied in order on SQLite and PostgreSQL alike: only
//! types and syntax both accept (BIGINT, TEXT, partial unique indexes).
//! Times are microseconds since the Unix epoch; validity of every versioned
//! row is `[begin_snapshot, end_snapshot)`, NULL end meaning "still valid".

pub(super) const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (
        1,
        "lake core: snapshots, datasets, schema versions, columns, files, statistics, tags, deliveries",
        &[
            "CREATE TABLE lagoa_metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE lagoa_snapshot (
            snapshot_id BIGINT PRIMARY KEY,
            created_at BIGINT NOT NULL,
            dataset_id BIGINT,
            operation TEXT NOT NULL,
            summary TEXT NOT NULL
        )",
            "CREATE TABLE lagoa_dataset (
            dataset_id BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            level TEXT NOT NULL,
            description TEXT NOT NULL,
            partition_column TEXT,
            begin_snapshot BIGINT NOT NULL,
            end_snapshot BIGINT,
            shredded_at BIGINT
        )",
            "CREATE UNIQUE INDEX lagoa_dataset_live_name ON lagoa_dataset (name) WHERE end_snapshot IS NULL",
            "CREATE TABLE lagoa_schema_version (
            dataset_id BIGINT NOT NULL,
            schema_version BIGINT NOT NULL,
            begin_snapshot BIGINT NOT NULL,
            end_snapshot BIGINT,
            PRIMARY KEY (dataset_id, schema_version)
        )",
            "CREATE TABLE lagoa_column (
            dataset_id BIGINT NOT NULL,
            column_id BIGINT NOT NULL,
            position BIGINT NOT NULL,
            name TEXT NOT NULL,
            data_type TEXT NOT NULL,
            nullable BIGINT NOT NULL,
            personal TEXT,
            begin_snapshot BIGINT NOT NULL,
            end_snapshot BIGINT,
            PRIMARY KEY (dataset_id, column_id, begin_snapshot)
        )",
            "CREATE TABLE lagoa_data_file (
            file_id TEXT PRIMARY KEY,
            dataset_id BIGINT NOT NULL,
            path TEXT NOT NULL,
            partition_value TEXT,
            row_count BIGINT NOT NULL,
            size_bytes BIGINT NOT NULL,
            schema_version BIGINT NOT NULL,
            master_key_id TEXT,
            begin_snapshot BIGINT NOT NULL,
            end_snapshot BIGINT
        )",
            "CREATE INDEX lagoa_data_file_live ON lagoa_data_file (dataset_id, end_snapshot)",
            "CREATE TABLE lagoa_file_column_stats (
            file_id TEXT NOT NULL,
            column_id BIGINT NOT NULL,
            null_count BIGINT,
            min_value TEXT,
            max_value TEXT,
            PRIMARY KEY (file_id, column_id)
        )",
            "CREATE TABLE lagoa_tag (
            dataset_id BIGINT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            begin_snapshot BIGINT NOT NULL,
            end_snapshot BIGINT,
            PRIMARY KEY (dataset_id, key, begin_snapshot)
        )",
            "CREATE TABLE lagoa_delivery (
            dataset_id BIGINT NOT NULL,
            fingerprint TEXT NOT NULL,
            snapshot_id BIGINT NOT NULL,
            source TEXT NOT NULL,
            rows_written BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (dataset_id, fingerprint)
        )",
        ],
    ),
    (
        2,
        "raw zone: every delivery received, where its encrypted original is, and what became of it",
        &[
            "CREATE TABLE lagoa_raw_delivery (
                raw_id TEXT PRIMARY KEY,
                dataset TEXT NOT NULL,
                path TEXT NOT NULL,
                source TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                stored_bytes BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                status TEXT NOT NULL,
                snapshot_id BIGINT,
                error TEXT
            )",
            "CREATE INDEX lagoa_raw_delivery_dataset ON lagoa_raw_delivery (dataset, received_at)",
        ],
    ),
    (
        3,
        "connectors and contracts: runs with their quality reports, quarantine, contract versions, drift, watermarks",
        &[
            "CREATE TABLE lagoa_run (
                run_id TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                dataset TEXT NOT NULL,
                trigger_kind TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts BIGINT NOT NULL,
                started_at BIGINT NOT NULL,
                ended_at BIGINT,
                rows_read BIGINT NOT NULL,
                rows_written BIGINT NOT NULL,
                rows_rejected BIGINT NOT NULL,
                bytes_read BIGINT NOT NULL,
                bytes_written BIGINT NOT NULL,
                snapshot_id BIGINT,
                raw_id TEXT,
                contract_version BIGINT,
                replay_of TEXT,
                error TEXT,
                error_class TEXT,
                report TEXT
            )",
            "CREATE INDEX lagoa_run_dataset ON lagoa_run (dataset, started_at)",
            "CREATE INDEX lagoa_run_source ON lagoa_run (source, started_at)",
            "CREATE TABLE lagoa_quarantine (
                run_id TEXT PRIMARY KEY,
                dataset TEXT NOT NULL,
                path TEXT NOT NULL,
                row_count BIGINT NOT NULL,
                stored_bytes BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                released_at BIGINT,
                released_by_run TEXT
            )",
            "CREATE TABLE lagoa_contract (
                dataset TEXT NOT NULL,
                version BIGINT NOT NULL,
                effective_from TEXT,
                body TEXT NOT NULL,
                registered_at BIGINT NOT NULL,
                PRIMARY KEY (dataset, version)
            )",
            "CREATE TABLE lagoa_drift (
                run_id TEXT NOT NULL,
                dataset TEXT NOT NULL,
                kind TEXT NOT NULL,
                column_name TEXT NOT NULL,
                detail TEXT NOT NULL,
                policy TEXT NOT NULL,
                at BIGINT NOT NULL
            )",
            "CREATE INDEX lagoa_drift_dataset ON lagoa_drift (dataset, at)",
            "CREATE TABLE lagoa_watermark (
                source TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                snapshot_id BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
        ],
    ),
    (
        4,
        "source state: pause, lease, last scheduled firing",
        &["CREATE TABLE lagoa_source (
                source TEXT PRIMARY KEY,
                paused BIGINT NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_until BIGINT,
                last_fire_at BIGINT,
                updated_at BIGINT NOT NULL
            )"],
    ),
    (
        5,
        "institutions, principals and API tokens; who paused a source",
        &[
            "CREATE TABLE lagoa_institution (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
            "CREATE TABLE lagoa_principal (
                name TEXT PRIMARY KEY,
                institution TEXT NOT NULL REFERENCES lagoa_institution (name),
                role TEXT NOT NULL,
                kind TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                disabled_at BIGINT
            )",
            "CREATE TABLE lagoa_token (
                token_id TEXT PRIMARY KEY,
                principal TEXT NOT NULL REFERENCES lagoa_principal (name),
                token_hash TEXT NOT NULL,
                label TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                revoked_at BIGINT,
                last_used_at BIGINT
            )",
            "ALTER TABLE lagoa_source ADD COLUMN updated_by TEXT",
        ],
    ),
    (
        6,
        "the audit trail (hash-chained) and wrapped lake secrets",
        &[
            "CREATE TABLE lagoa_audit (
                seq BIGINT PRIMARY KEY,
                at BIGINT NOT NULL,
                principal TEXT NOT NULL,
                institution TEXT NOT NULL,
                purpose TEXT,
                action TEXT NOT NULL,
                datasets TEXT NOT NULL,
                columns_read TEXT NOT NULL,
                grants TEXT NOT NULL,
                rows_returned BIGINT NOT NULL,
                bytes_returned BIGINT NOT NULL,
                duration_ms BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                reason TEXT,
                subject TEXT,
                prev_mac TEXT NOT NULL,
                mac TEXT NOT NULL
            )",
            "CREATE TABLE lagoa_secret (
                name TEXT PRIMARY KEY,
                master_key_id TEXT NOT NULL,
                wrapped TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
        ],
    ),
    (
        7,
        "categorisations (versioned), requests and grants",
        &[
            "CREATE TABLE lagoa_categorisation (
                dataset TEXT NOT NULL,
                version BIGINT NOT NULL,
                level TEXT NOT NULL,
                provider TEXT NOT NULL,
                justification TEXT NOT NULL,
                conditions TEXT NOT NULL,
                restrictions TEXT NOT NULL,
                changed_by TEXT NOT NULL,
                changed_at BIGINT NOT NULL,
                reason TEXT NOT NULL,
                snapshot_id BIGINT NOT NULL,
                PRIMARY KEY (dataset, version)
            )",
            "CREATE TABLE lagoa_request (
                request_id TEXT PRIMARY KEY,
                dataset TEXT NOT NULL,
                columns_asked TEXT NOT NULL,
                personal BIGINT NOT NULL,
                principal TEXT NOT NULL,
                institution TEXT NOT NULL,
                for_institution BIGINT NOT NULL,
                purpose TEXT NOT NULL,
                legal_basis TEXT NOT NULL,
                until_at BIGINT,
                status TEXT NOT NULL,
                filed_at BIGINT NOT NULL,
                deadline_at BIGINT NOT NULL,
                decided_by TEXT,
                decided_at BIGINT,
                decision_reason TEXT,
                grant_id TEXT
            )",
            "CREATE TABLE lagoa_grant (
                grant_id TEXT PRIMARY KEY,
                request_id TEXT NOT NULL,
                dataset TEXT NOT NULL,
                grantee_kind TEXT NOT NULL,
                grantee TEXT NOT NULL,
                columns_granted TEXT NOT NULL,
                personal BIGINT NOT NULL,
                purpose TEXT NOT NULL,
                legal_basis TEXT NOT NULL,
                expires_at BIGINT,
                granted_by TEXT NOT NULL,
                granted_at BIGINT NOT NULL,
                revoked_at BIGINT,
                revoked_by TEXT
            )",
            "CREATE INDEX lagoa_grant_grantee ON lagoa_grant (grantee_kind, grantee)",
        ],
    ),
    (
        8,
        "what a categorisation does with personal columns: pseudonymised or removed",
        &[
            "ALTER TABLE lagoa_categorisation ADD COLUMN pseudonymised TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE lagoa_categorisation ADD COLUMN removed TEXT NOT NULL DEFAULT '[]'",
        ],
    ),
    (
        9,
        "indicator runs: inputs, parameters, suppression and what was published",
        &[
            "CREATE TABLE lagoa_indicator_run (
                run_id TEXT PRIMARY KEY,
                indicator TEXT NOT NULL,
                dataset TEXT NOT NULL,
                trigger_kind TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                ended_at BIGINT,
                input_snapshot BIGINT NOT NULL,
                inputs TEXT NOT NULL,
                parameters TEXT NOT NULL,
                sql_sha256 TEXT NOT NULL,
                min_cell BIGINT NOT NULL,
                output_snapshot BIGINT,
                output_level TEXT,
                cells BIGINT NOT NULL,
                suppressed_primary BIGINT NOT NULL,
                suppressed_secondary BIGINT NOT NULL,
                derivation TEXT NOT NULL,
                error TEXT
            )",
            "CREATE INDEX lagoa_indicator_run_by_indicator ON lagoa_indicator_run (indicator, started_at)",
        ],
    ),
    (
        10,
        "who delivers each dataset (its provider institution), and generalised personal columns",
        &[
            "CREATE TABLE lagoa_dataset_provider (
                dataset TEXT PRIMARY KEY,
                provider TEXT NOT NULL,
                named_from TEXT NOT NULL,
                named_at BIGINT NOT NULL
            )",
            "ALTER TABLE lagoa_categorisation ADD COLUMN generalised TEXT NOT NULL DEFAULT '{}'",
        ],
    ),
    (
        11,
        "which process holds each running run, so a run whose process died is closed as abandoned",
        &["CREATE TABLE lagoa_run_holder (
                run_id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid BIGINT NOT NULL,
                process_started TEXT NOT NULL,
                heartbeat_at BIGINT NOT NULL
            )"],
    ),
    (
        12,
        "the size and SHA-256 of every object the lake writes, for check --deep",
        &["CREATE TABLE lagoa_object_digest (
                path TEXT PRIMARY KEY,
                size_bytes BIGINT NOT NULL,
                sha256 TEXT NOT NULL,
                recorded_at BIGINT NOT NULL
            )"],
    ),
    (
        13,
        "deletion vectors: the rows of a file that upserts replaced or deleted, per snapshot; each delivery's write mode",
        &[
            "CREATE TABLE lagoa_file_deletes (
                file_id TEXT NOT NULL,
                dataset_id BIGINT NOT NULL,
                begin_snapshot BIGINT NOT NULL,
                end_snapshot BIGINT,
                deleted_rows BIGINT NOT NULL,
                positions TEXT NOT NULL,
                PRIMARY KEY (file_id, begin_snapshot)
            )",
            "CREATE INDEX lagoa_file_deletes_by_dataset ON lagoa_file_deletes (dataset_id, begin_snapshot)",
            // How each delivery was to be written, so that a replay or a
            // quarantine release writes it the same way.
            "ALTER TABLE lagoa_raw_delivery ADD COLUMN write_mode TEXT NOT NULL DEFAULT 'append'",
            "ALTER TABLE lagoa_raw_delivery ADD COLUMN write_key TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE lagoa_raw_delivery ADD COLUMN delete_column TEXT",
        ],
    ),
    (
        14,
        "people of the state's identity provider linked to principals; how each audited principal signed in",
        &[
            // Only a keyed digest of the provider's identifier (a subject,
            // or a CPF claim): the catalog never holds the value.
            "CREATE TABLE lagoa_principal_identity (
                digest TEXT PRIMARY KEY,
                principal TEXT NOT NULL REFERENCES lagoa_principal (name),
                linked_at BIGINT NOT NULL,
                linked_by TEXT NOT NULL
            )",
            "CREATE INDEX lagoa_principal_identity_by_principal ON lagoa_principal_identity (principal)",
            // Console sessions signed out before their end (their cookies
            // are signed, not stored): refused until they would have ended.
            "CREATE TABLE lagoa_console_signout (
                session_id TEXT PRIMARY KEY,
                ends_at BIGINT NOT NULL
            )",
            // `lagoa user signout`: sessions and connections through the
            // provider opened before `after` end.
            "CREATE TABLE lagoa_principal_signout (
                principal TEXT PRIMARY KEY,
                after BIGINT NOT NULL
            )",
            "ALTER TABLE lagoa_audit ADD COLUMN signed_in TEXT",
        ],
    ),
    (
        15,
        "indicator runs: the protection asked of withheld small counts, the narrowest an attacker's audit left, the counts they publish",
        &[
            // 0 on runs from before the audit: nothing was measured.
            "ALTER TABLE lagoa_indicator_run ADD COLUMN protection BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE lagoa_indicator_run ADD COLUMN smallest_width BIGINT",
            "ALTER TABLE lagoa_indicator_run ADD COLUMN numerator_count TEXT",
            "ALTER TABLE lagoa_indicator_run ADD COLUMN denominator_count TEXT",
        ],
    ),
    (
        16,
        "indicator runs: how many years each published row adds up",
        &["ALTER TABLE lagoa_indicator_run ADD COLUMN period_years BIGINT NOT NULL DEFAULT 1"],
    ),
    (
        17,
        "snapshots found by time without reading the whole history",
        // `AS OF TIMESTAMP` resolves to the last snapshot at or before a
        // moment: after years of deliveries, an index range, not a scan.
        &["CREATE INDEX lagoa_snapshot_created ON lagoa_snapshot (created_at)"],
    ),
];
