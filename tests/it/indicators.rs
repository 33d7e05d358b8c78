//! Policy indicators, end to end through the real binary:
//!
//! - golden tests: a hand-made state of three municipalities whose counts
//!   are known, delivered through the demo's contracts; each indicator's
//!   published table (values, small cells withheld, complementary
//!   suppression, state totals) must equal the hand-computed file in
//!   `sql/indicators/golden/`;
//! - the demo's whole story on generated data, every indicator checked by
//!   an independent recomputation from the raw deliveries (DuckDB, in
//!   `tests/py/recompute_indicators.py`), runs recorded with their inputs,
//!   recomputed exactly by `lagoa indicator verify`, and shown by the
//!   console and the HTTP API.

use crate::support::*;
use std::path::{Path, PathBuf};

const ALFA: &str = "260010";
const BETA: &str = "260020";
const GAMA: &str = "260030";
const SIM_HEADER: &str = "NUMERODO;TIPOBITO;DTOBITO;HORAOBITO;DTNASC;IDADE;SEXO;RACACOR;ESTCIV;CODMUNRES;LOCOCOR;CIRCOBITO;CAUSABAS;LINHAA;CPF;CNS;NOME;NOMEMAE";

fn contract(dataset: &str) -> PathBuf {
    repo_root().join(format!("pipeline/demo/office/contratos/{dataset}.toml"))
}

/// A SIM row: `(municipality, year, tipobito, idade, causabas, cpf)`.
fn sim_row(
    n: usize,
    m: &str,
    year: i32,
    tipobito: &str,
    idade: &str,
    cause: &str,
    cpf: &str,
) -> String {
    format!(
        "{:02}{n:07};{tipobito};1506{year};1200;;{idade};1;4;;{m};1;;{cause};;{cpf};;;\n",
        year % 100
    )
}

/// A SINASC row with its prenatal band (`CONSULTAS`) and visits.
fn sinasc_row(n: usize, m: &str, year: i32, band: &str) -> String {
    let visits = match band {
        "4" => "08",
        "3" => "05",
        "2" => "02",
        _ => "99",
    };
    format!(
        "{:02}{n:07};2000001;{m};{m};1;25;4;5;1;1;{band};{visits};1003{year};0830;1;08;09;4;3200;;\n",
        year % 100
    )
}

/// The golden state: counts chosen so that each kind of suppression happens.
pub fn golden_state(dir: &Path, lake: &Path) {
    let mut sim = format!("{SIM_HEADER}\n");
    let mut n = 0;
    let mut add = |sim: &mut String,
                   count: usize,
                   m: &str,
                   year: i32,
                   tipobito: &str,
                   idade: &str,
                   cause: &str| {
        for _ in 0..count {
            n += 1;
            sim.push_str(&sim_row(n, m, year, tipobito, idade, cause, ""));
        }
    };
    // (municipality, year, infant deaths, homicides X95, legal intervention Y35, other deaths)
    for (m, year, infant, homicides, legal, other) in [
        (ALFA, 2023, 12, 30, 0, 50),
        (BETA, 2023, 3, 2, 0, 10),
        (GAMA, 2023, 0, 0, 0, 3),
        (ALFA, 2024, 9, 25, 1, 40),
        (BETA, 2024, 6, 7, 0, 0),
        (GAMA, 2024, 1, 1, 0, 0),
    ] {
        add(&mut sim, infant, m, year, "2", "205", "P073");
        add(&mut sim, homicides, m, year, "2", "430", "X954");
        add(&mut sim, legal, m, year, "2", "430", "Y350");
        add(&mut sim, other, m, year, "2", "470", "I219");
    }
    // Fetal deaths, a residence unknown within the state, and a CPF whose
    // check digit is wrong (quarantined): none of them counts.
    add(&mut sim, 5, ALFA, 2023, "1", "", "P95");
    add(&mut sim, 2, "260000", 2023, "2", "430", "X954");
    sim.push_str(&sim_row(
        9_999,
        ALFA,
        2023,
        "2",
        "430",
        "X954",
        "52998224726",
    ));

    let mut sinasc = String::from(
        "NUMERODN;CODESTAB;CODMUNNASC;CODMUNRES;LOCNASC;IDADEMAE;ESCMAE;GESTACAO;GRAVIDEZ;PARTO;CONSULTAS;CONSPRENAT;DTNASC;HORANASC;SEXO;APGAR1;APGAR5;RACACOR;PESO;CPFMAE;NOMEMAE\n",
    );
    let mut b = 0;
    // (municipality, year, [(band, births)])
    for (m, year, bands) in [
        (ALFA, 2023, vec![("4", 800), ("9", 20), ("3", 180)]),
        (BETA, 2023, vec![("4", 150), ("2", 50)]),
        (GAMA, 2023, vec![("4", 4)]),
        (ALFA, 2024, vec![("4", 850), ("3", 150)]),
        (BETA, 2024, vec![("4", 120), ("3", 60)]),
        (GAMA, 2024, vec![("4", 3), ("3", 3)]),
    ] {
        for (band, count) in bands {
            for _ in 0..count {
                b += 1;
                sinasc.push_str(&sinasc_row(b, m, year, band));
            }
        }
    }
    let mut population =
        String::from("UF;COD. UF;COD. MUNIC;NOME DO MUNICÍPIO;POPULAÇÃO ESTIMADA;planilha\n");
    for (code, name, p2023, p2024) in [
        ("104", "Alfa do Norte", 100_000, 101_000),
        ("203", "Beta", 20_000, 20_100),
        ("302", "Gama", 3_000, 3_000),
    ] {
        population.push_str(&format!(
            "PE;26;{code};{name};{p2023};2023\nPE;26;{code};{name};{p2024};2024\n"
        ));
    }
    for (dataset, text) in [
        ("ibge_populacao", population),
        ("sim_obitos", sim),
        ("sinasc_nascidos", sinasc),
    ] {
        let file = write_file(dir, &format!("{dataset}.csv"), &text);
        let c = contract(dataset);
        ingest(lake, &file, dataset, &["--contract", c.to_str().unwrap()]);
    }
}

/// One more homicide of `municipality` in 2024, delivered on its own.
fn deliver_a_death(dir: &Path, lake: &Path, n: usize, municipality: &str) {
    let row = sim_row(n, municipality, 2024, "2", "430", "X954", "");
    let file = write_file(
        dir,
        &format!("mais_{n}.csv"),
        &format!("{SIM_HEADER}\n{row}"),
    );
    let c = contract("sim_obitos");
    ingest(
        lake,
        &file,
        "sim_obitos",
        &["--contract", c.to_str().unwrap()],
    );
}

/// Keeps only the indicators of deaths, births and population (what the
/// golden state delivers).
pub fn keep_golden_indicators(lake: &Path) {
    for other in [
        "cobertura_vacinal",
        "abandono_escolar",
        "distorcao_idade_serie",
        "mortes_violentas_intencionais",
    ] {
        std::fs::remove_file(lake.join(format!("indicators/{other}.sql"))).unwrap();
    }
}

pub fn published(lake: &Path, indicator: &str) -> String {
    lagoa_ok(
        lake,
        &[
            "query",
            &format!(
                "SELECT municipio, ano, numerador, denominador, round(valor, 6) AS valor, supressao, total_estado \
                 FROM ind_{indicator} ORDER BY ano, total_estado, municipio"
            ),
            "--format",
            "csv",
        ],
    )
}

#[test]
fn indicators_publish_what_the_golden_files_say_small_cells_withheld() {
    let (dir, lake) = new_lake();
    golden_state(dir.path(), &lake);
    assert!(lagoa_ok(&lake, &["indicator", "init"]).contains("7 indicator(s) written"));
    // This state delivers only deaths, births and population.
    keep_golden_indicators(&lake);
    let out = lagoa_ok(
        &lake,
        &[
            "indicator",
            "run",
            "mortalidade_infantil",
            "pre_natal_7_consultas",
            "homicidios",
        ],
    );
    assert_eq!(out.matches(": committed, 6 cells").count(), 3, "{out}");
    for indicator in [
        "mortalidade_infantil",
        "pre_natal_7_consultas",
        "homicidios",
    ] {
        let golden = std::fs::read_to_string(
            repo_root().join(format!("sql/indicators/golden/{indicator}.csv")),
        )
        .unwrap();
        assert_eq!(published(&lake, indicator), golden, "{indicator}");
    }

    // The same inputs again: nothing new is published.
    let again = lagoa_ok(&lake, &["indicator", "run", "mortalidade_infantil"]);
    assert!(again.contains("mortalidade_infantil: unchanged"), "{again}");

    // A parameter changes the denominator: births with unknown visits out.
    let out = lagoa_ok(
        &lake,
        &[
            "indicator",
            "run",
            "pre_natal_7_consultas",
            "--param",
            "denominador=informados",
        ],
    );
    assert!(out.contains("committed"), "{out}");
    let rows = published(&lake, "pre_natal_7_consultas");
    assert!(
        rows.contains("2600104,2023,800,980,81.632653,,false"),
        "{rows}"
    );
    assert!(rows.contains("26,2023,954,1184,80.574324,,true"), "{rows}");
    let e = lagoa_err(
        &lake,
        &[
            "indicator",
            "run",
            "pre_natal_7_consultas",
            "--param",
            "denominador=x'; DROP",
        ],
    );
    assert!(e.contains("only letters"), "{e}");

    // Every run is on record: what it read, what it withheld, its level and why.
    let runs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT indicator, status, output_level, suppressed_primary, suppressed_secondary, protection, smallest_width, inputs, derivation \
             FROM system.indicator_runs WHERE indicator = 'mortalidade_infantil' ORDER BY started_at",
            "--format",
            "json",
        ],
    );
    let runs: Vec<serde_json::Value> = runs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["status"], "committed");
    assert_eq!(runs[1]["status"], "unchanged");
    assert_eq!(runs[0]["output_level"], "amplo");
    assert_eq!(
        (
            runs[0]["suppressed_primary"].as_i64(),
            runs[0]["suppressed_secondary"].as_i64()
        ),
        (Some(3), Some(2))
    );
    // 2024's numerators: a small one withheld with the 7 − it beside it,
    // so an attacker knows each is one of 1 … 6 (the state total is 16,
    // 9 published; a withheld count is never 0).
    assert_eq!(
        (
            runs[0]["protection"].as_i64(),
            runs[0]["smallest_width"].as_i64()
        ),
        (Some(5), Some(5)),
        "{runs:?}"
    );
    let inputs = runs[0]["inputs"].as_str().unwrap();
    assert!(
        inputs.contains("sim_obitos@") && inputs.contains("sinasc_nascidos@"),
        "{inputs}"
    );
    let derivation = runs[0]["derivation"].as_str().unwrap();
    assert!(
        derivation.contains("sim_obitos (especial)")
            && derivation.contains("counts from 1 to 4 suppressed"),
        "{derivation}"
    );
    let level = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT level FROM system.datasets WHERE name = 'ind_homicidios'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(level, "level\namplo\n");

    // A published run is recomputed exactly from the inputs it recorded,
    // even after its sources changed.
    let run_id = lagoa_ok(&lake, &["indicator", "runs", "homicidios", "--json"])
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["status"] == "committed")
        .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    deliver_a_death(dir.path(), &lake, 8_888, ALFA);
    let listed = lagoa_ok(&lake, &["indicator", "list"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with("homicidios"))
        .unwrap();
    assert!(line.contains(" yes "), "its source changed: {line}");
    let verified = lagoa_ok(&lake, &["indicator", "verify", &run_id]);
    assert!(verified.contains("8 cells identical"), "{verified}");
    let rerun = lagoa_ok(&lake, &["indicator", "run", "--stale"]);
    assert!(
        rerun.contains("homicidios: committed") && !rerun.contains("pre_natal"),
        "{rerun}"
    );
    assert!(published(&lake, "homicidios").contains("2600104,2024,27,101000,"));
}

#[test]
fn a_new_indicator_over_the_same_births_does_not_give_away_what_another_withheld() {
    let (dir, lake) = new_lake();
    golden_state(dir.path(), &lake);
    lagoa_ok(&lake, &["indicator", "init"]);
    keep_golden_indicators(&lake);
    let out = lagoa_ok(&lake, &["indicator", "run", "mortalidade_infantil"]);
    assert!(out.contains("committed"), "{out}");
    // Gama's 2023 births (1 to 4) and Beta's are withheld; Alfa's 1 000
    // and the state's total are published.
    let golden = published(&lake, "mortalidade_infantil");
    assert!(
        golden.contains("2600302,2023,0,,,suprimido,false"),
        "{golden}"
    );

    // The same births under an indicator without a minimum: on its own it
    // would publish every count, and Gama's births would be the state's
    // total minus the others.
    let prenatal = std::fs::read_to_string(lake.join("indicators/pre_natal_7_consultas.sql"))
        .unwrap()
        .replace(
            "-- name: pre_natal_7_consultas",
            "-- name: pre_natal_sem_minimo",
        )
        .replace("-- min_cell: 5", "-- min_cell: 0");
    std::fs::write(lake.join("indicators/pre_natal_sem_minimo.sql"), prenatal).unwrap();
    let out = lagoa_ok(&lake, &["indicator", "run", "pre_natal_sem_minimo"]);
    assert!(out.contains("committed"), "{out}");
    let rows = published(&lake, "pre_natal_sem_minimo");
    let births_2023: Vec<&str> = rows
        .lines()
        .filter(|l| l.contains(",2023,") && l.ends_with(",false"))
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(
        births_2023,
        ["1000", "", ""],
        "Gama's births stay withheld, with Beta's beside them, not Alfa's (already public): {rows}"
    );
    assert!(
        rows.contains("26,2023,954,1204,"),
        "the total stays: {rows}"
    );
    // 2024's births were all published by mortalidade_infantil: nothing to hide.
    assert!(
        rows.contains("2600302,2024,") && !rows.contains(",2024,,"),
        "{rows}"
    );
    let runs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT run_id, numerator_count, denominator_count, suppressed_primary, smallest_width \
             FROM system.indicator_runs WHERE indicator = 'pre_natal_sem_minimo'",
            "--format",
            "json",
        ],
    );
    let run: serde_json::Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    assert_eq!(run["denominator_count"], "nascidos_vivos_todos", "{run}");
    assert_eq!(run["suppressed_primary"], 1, "{run}");
    // Recomputed against what was public when it ran: the same cells.
    let verified = lagoa_ok(
        &lake,
        &["indicator", "verify", run["run_id"].as_str().unwrap()],
    );
    assert!(verified.contains("cells identical"), "{verified}");
}

/// Homicides over two-year periods beside the yearly table: each row adds
/// up its year and the one before, and neither table gives away what the
/// other withheld (the yearly one withheld 2600104's 30 of 2023 as the
/// partner of 2600203's 2; the two-year 56 would tell the 30 with the
/// yearly 26 of 2024, then the 2 by the yearly total).
#[test]
fn an_indicator_over_two_year_periods_adds_up_its_years_and_keeps_the_yearly_secrets() {
    let (dir, lake) = new_lake();
    golden_state(dir.path(), &lake);
    lagoa_ok(&lake, &["indicator", "init"]);
    keep_golden_indicators(&lake);
    lagoa_ok(&lake, &["indicator", "run", "homicidios"]);
    let yearly = std::fs::read_to_string(lake.join("indicators/homicidios.sql")).unwrap();
    let two_years = yearly
        .replace("-- name: homicidios", "-- name: homicidios_bienal")
        .replace("-- min_cell: 5", "-- min_cell: 5\n-- period: 2");
    std::fs::write(lake.join("indicators/homicidios_bienal.sql"), &two_years).unwrap();
    let out = lagoa_ok(&lake, &["indicator", "run", "homicidios_bienal"]);
    assert!(
        out.contains("homicidios_bienal: committed, 3 cells"),
        "{out}"
    );
    let rows = published(&lake, "homicidios_bienal");
    let lines: Vec<&str> = rows.lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        4,
        "one period (2023–2024) and its total:\n{rows}"
    );
    assert!(
        lines.iter().all(|l| l.split(',').nth(1) == Some("2024")),
        "{rows}"
    );
    // Populations add up over the two years.
    assert!(
        rows.contains("2600104,2024,,201000,,suprimido,false"),
        "{rows}"
    );
    assert!(
        rows.contains("2600302,2024,,6000,,suprimido,false"),
        "{rows}"
    );
    assert!(
        lines[3].starts_with("26,2024,") && lines[3].contains(",247100,"),
        "{rows}"
    );
    let show = lagoa_ok(&lake, &["indicator", "show", "homicidios_bienal"]);
    assert!(show.contains("period:   2 years"), "{show}");
    let runs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT period_years FROM system.indicator_runs WHERE indicator = 'homicidios_bienal'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(runs.trim(), "period_years\n2", "{runs}");
    // Longer than the years the lake holds: no period is whole.
    let longer = two_years
        .replace("homicidios_bienal", "homicidios_decenal")
        .replace("-- period: 2", "-- period: 10");
    std::fs::write(lake.join("indicators/homicidios_decenal.sql"), longer).unwrap();
    let e = lagoa_err(&lake, &["indicator", "run", "homicidios_decenal"]);
    assert!(
        e.contains("its period is 10 years, but its SQL returned 2023 to 2024 only"),
        "{e}"
    );
}

#[test]
fn a_count_declared_as_a_sum_must_add_up_row_by_row() {
    let (dir, lake) = new_lake();
    golden_state(dir.path(), &lake);
    let folder = lake.join("indicators");
    std::fs::create_dir_all(&folder).unwrap();
    let definition = |columns: &str| {
        format!(
            "-- name: soma\n-- title: S\n-- description: d\n-- unit: u\n-- formula: f\n-- sources: ibge_populacao\n-- trigger: manual\n-- min_cell: 5\n-- per: 100\n-- numerator: obitos_fetais\n-- denominator: nascidos_vivos_todos + obitos_fetais\n\
             SELECT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio, ano, 1 AS numerador, {columns} FROM ibge_populacao"
        )
    };
    std::fs::write(
        folder.join("soma.sql"),
        definition("10 AS denominador, 8 AS nascidos_vivos_todos, 1 AS obitos_fetais"),
    )
    .unwrap();
    let e = lagoa_err(&lake, &["indicator", "run", "soma"]);
    assert!(
        e.contains(
            "denominador is 10, but its names add up to 9 (nascidos_vivos_todos + obitos_fetais)"
        ) && e.contains("municipio 26"),
        "{e}"
    );
    // A count of one name with a column of its own must agree with it.
    std::fs::write(
        folder.join("soma.sql"),
        definition("10 AS denominador, 5 AS nascidos_vivos_todos, 5 AS obitos_fetais"),
    )
    .unwrap();
    let e = lagoa_err(&lake, &["indicator", "run", "soma"]);
    assert!(
        e.contains("numerador is 1, but its names add up to 5 (obitos_fetais)"),
        "{e}"
    );
    std::fs::write(
        folder.join("soma.sql"),
        definition("10 AS denominador, 9 AS nascidos_vivos_todos"),
    )
    .unwrap();
    let e = lagoa_err(&lake, &["indicator", "run", "soma"]);
    assert!(e.contains("its SQL returns no column obitos_fetais"), "{e}");
    // Adding up, it publishes; the numerator (one name) needs no column.
    std::fs::write(
        folder.join("soma.sql"),
        definition("10 AS denominador, 9 AS nascidos_vivos_todos, 1 AS obitos_fetais"),
    )
    .unwrap();
    let out = lagoa_ok(&lake, &["indicator", "run", "soma"]);
    assert!(out.contains("committed"), "{out}");
    let runs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT denominator_count FROM system.indicator_runs WHERE indicator = 'soma' AND status = 'committed'",
            "--format",
            "csv",
        ],
    );
    assert!(
        runs.contains("nascidos_vivos_todos + obitos_fetais"),
        "{runs}"
    );
}

#[test]
fn an_indicator_definition_that_is_wrong_says_what_and_where() {
    let (_dir, lake) = new_lake();
    let folder = lake.join("indicators");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("ruim.sql"),
        "-- name: ruim\n-- title: Ruim\nSELECT 1",
    )
    .unwrap();
    let e = lagoa_err(&lake, &["indicator", "list"]);
    assert!(
        e.contains("ruim.sql") && e.contains("no sources") && e.contains("no min_cell"),
        "{e}"
    );
    std::fs::write(
        folder.join("ruim.sql"),
        "-- name: ruim\n-- title: R\n-- description: d\n-- unit: u\n-- formula: f\n-- sources: nada\n-- trigger: manual\n-- min_cell: 5\n-- per: 100\nSELECT 1 AS x",
    )
    .unwrap();
    let e = lagoa_err(&lake, &["indicator", "run", "ruim"]);
    assert!(e.contains("its source nada is not in the lake yet"), "{e}");
    let runs = lagoa_ok(&lake, &["indicator", "runs", "ruim"]);
    assert!(
        runs.contains("failed"),
        "a failed run is on record too: {runs}"
    );
}

#[tokio::test]
async fn the_daemon_runs_indicators_after_their_sources_change_and_on_cron_once_across_daemons() {
    let (dir, lake_dir) = new_lake();
    golden_state(dir.path(), &lake_dir);
    lagoa_ok(&lake_dir, &["indicator", "init"]);
    let folder = lake_dir.join("indicators");
    keep_golden_indicators(&lake_dir);
    // The prenatal indicator on a schedule: 07:00 in São Paulo every day.
    let prenatal = folder.join("pre_natal_7_consultas.sql");
    let text = std::fs::read_to_string(&prenatal).unwrap();
    std::fs::write(
        &prenatal,
        text.replace("-- trigger: after-sources", "-- trigger: cron 0 7 * * *"),
    )
    .unwrap();

    let lake = std::sync::Arc::new(lagoa_lake::Lake::open(&lake_dir).await.unwrap());
    let clock = std::sync::Arc::new(lagoa_daemon::TestClock::new(
        chrono::DateTime::parse_from_rfc3339("2030-01-10T12:00:00Z")
            .unwrap()
            .into(),
    ));
    let watcher = |owner: &str| lagoa_daemon::IndicatorWatcher {
        lake: std::sync::Arc::clone(&lake),
        dir: folder.clone(),
        every: std::time::Duration::from_secs(60),
        clock: clock.clone(),
        owner: owner.into(),
        lease: std::time::Duration::from_secs(120),
        remote: None,
    };
    let (a, b) = (watcher("daemon-a"), watcher("daemon-b"));
    let names = |runs: &[lagoa_lake::catalog::IndicatorRun]| {
        let mut n: Vec<String> = runs
            .iter()
            .map(|r| format!("{}:{}", r.indicator, r.trigger))
            .collect();
        n.sort();
        n
    };

    // Never run: the after-sources ones run, and the cron one for today's 07:00.
    let first = a.check_once().await;
    assert_eq!(
        names(&first),
        [
            "homicidios:after_sources",
            "mortalidade_infantil:after_sources",
            "pre_natal_7_consultas:schedule"
        ]
    );
    assert!(first.iter().all(|r| r.status == "committed"));
    // Another daemon sees nothing to do.
    assert!(b.check_once().await.is_empty());

    // New deaths: the indicators of deaths run again, not the prenatal one.
    deliver_a_death(dir.path(), &lake_dir, 7_777, BETA);
    let second = b.check_once().await;
    assert_eq!(
        names(&second),
        [
            "homicidios:after_sources",
            "mortalidade_infantil:after_sources"
        ]
    );

    // The next day's firing runs once, with two daemons checking at once.
    clock.advance(chrono::Duration::days(1));
    let (x, y) = tokio::join!(a.check_once(), b.check_once());
    let mut both = x;
    both.extend(y);
    assert_eq!(names(&both), ["pre_natal_7_consultas:schedule"]);
    assert_eq!(
        both[0].status, "unchanged",
        "same inputs: nothing new to publish"
    );
}
