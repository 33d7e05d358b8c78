// What a Node tool does through the `pg` package from npm: connect with a
// token, run parameterised queries (extended protocol), read typed rows,
// and see a refusal with its SQLSTATE. Prints one JSON object; run by
// tests/it/pg.rs as: node client.js PORT USER TOKEN
const { Client } = require("pg");

async function main() {
  const [port, user, password] = process.argv.slice(2);
  const client = new Client({
    host: "127.0.0.1",
    port: Number(port),
    user,
    password,
    database: "lagoa",
    connectionTimeoutMillis: 10000,
  });
  await client.connect();
  const out = {};
  const big = await client.query(
    "SELECT municipio, habitantes FROM populacao WHERE habitantes > $1 ORDER BY municipio",
    [1500],
  );
  out.rows = big.rows;
  out.fields = big.fields.map((f) => f.name);
  const dated = await client.query("SELECT CAST($1 AS DATE) AS d, count(*) FROM populacao", ["2024-03-15"]);
  // `pg` reads a date as local midnight.
  const d = dated.rows[0].d;
  const day = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, "0")).join("-");
  out.dated = [day, dated.rows[0].count];
  try {
    await client.query("SELECT cpf FROM obitos WHERE ano = $1", [2024]);
    out.refused = null;
  } catch (e) {
    out.refused = e.code;
  }
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
