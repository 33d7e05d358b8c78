-- The statements sent by pgAdmin 4 opening a server,
-- as captured in datafusion-postgres's client tests (github.com/datafusion-contrib/datafusion-postgres,
-- Apache-2.0, datafusion-postgres/tests/pgadmin.rs at 4c18f5a). Replayed by tests/it/replays.rs.
-- One statement per paragraph; a statement ends with ';' at the end of a line.

SELECT version();

SELECT CASE
        WHEN (SELECT count(extname) FROM pg_catalog.pg_extension WHERE extname='bdr') > 0
        THEN 'pgd'
        WHEN (SELECT COUNT(*) FROM pg_replication_slots) > 0
        THEN 'log'
        ELSE NULL
    END as type;

