"""Recomputes Lagoa's policy indicators from the raw demo deliveries, without
Lagoa, and checks the indicator tables Lagoa published against them.

    recompute_indicators.py --deliveries DIR --published DIR --definitions DIR
                            [--contracts DIR]

--deliveries is the generator's output (`<dataset>/<file>`); --published holds
`ind_<name>.csv` as `lagoa query ... --format csv` exports them. Every row a
dataset contract would reject (bad CPF/CNS, pattern, values, ranges) is
dropped here too, because Lagoa quarantines it. Every published count must
equal the recomputed one and no count below min_cell may be published; then
an attacker (scipy's MILP solver, from the published rows of every indicator
at once: the counts, the state totals, counts being whole and never negative,
counts declared under the same name the same unknowns, a count declared as a
sum `a + b` the sum of its names' unknowns, a proportion's numerator never
above its denominator, a row of a `-- period: N` definition the sum over its
N years) bounds every withheld
count and every small name a sum adds up, and each must stay protected: its
range reaches min_cell and is at least `protection` values wide.
Prints one line per indicator and exits 1 when any indicator differs.
"""
import argparse
import csv
import datetime as dt
import re
import sys
import tomllib
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import openpyxl
from dbfread import DBF
from scipy.optimize import Bounds, LinearConstraint, milp

REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------ identifiers
# Written from the public algorithms (validators.rs cites them), not ported.
UF_CODES = {11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27, 28, 29,
            31, 32, 33, 35, 41, 42, 43, 50, 51, 52, 53}
# Official IBGE codes whose 7th digit is not the computed one.
IBGE_EXCEPTIONS = {"2201919", "2201988", "2202251", "2611533", "3117836",
                   "3152131", "4305871", "5203939", "5203962"}

def digits(text, n):
    """The digits of `text` without people's separators, if exactly n of them."""
    s = re.sub(r"[.\-/ ]", "", text)
    return [int(c) for c in s] if len(s) == n and s.isascii() and s.isdigit() else None

def cpf_ok(text):
    d = digits(text, 11)
    if d is None or len(set(d)) == 1:  # 111.111.111-11 passes the arithmetic
        return False
    for n in (9, 10):  # weights n+1 .. 2
        r = sum(v * w for v, w in zip(d[:n], range(n + 1, 1, -1))) % 11
        if d[n] != (0 if r < 2 else 11 - r):
            return False
    return True

def cns_ok(text):
    d = digits(text, 15)
    if d is None:
        return False
    s = sum(v * (15 - i) for i, v in enumerate(d[:11]))
    if d[0] in (1, 2):  # definitive: PIS + 000 + dv, or PIS + 001 + dv when dv = 10
        dv = (11 - s % 11) % 11
        tail = [0, 0, 0, dv] if dv != 10 else [0, 0, 1, (11 - (s + 2) % 11) % 11]
        return d[11:] == tail
    if d[0] in (7, 8, 9):  # provisional: the weighted sum closes on a multiple of 11
        return sum(v * (15 - i) for i, v in enumerate(d)) % 11 == 0
    return False

def ibge7_ok(text):
    d = digits(text, 7)
    if d is None or d[0] * 10 + d[1] not in UF_CODES:
        return False
    code = "".join(map(str, d))
    if any(e[:6] == code[:6] for e in IBGE_EXCEPTIONS):
        return code in IBGE_EXCEPTIONS
    s = sum(p // 10 + p % 10 for p in (v * w for v, w in zip(d, (1, 2, 1, 2, 1, 2))))
    return d[6] == (10 - s % 10) % 10

def datasus6_ok(text):
    d = digits(text, 6)  # no check digit; UF0000 and 000000 are DATASUS placeholders
    return d is not None and (not any(d) or d[0] * 10 + d[1] in UF_CODES)

VALIDATORS = {"cpf": cpf_ok, "cns": cns_ok, "ibge_municipio": ibge7_ok,
              "datasus_municipio": datasus6_ok}

# ------------------------------------------------------------ contracts

class Contract:
    """The row-level promises of one dataset contract."""

    def __init__(self, path):
        c = tomllib.loads(path.read_text(encoding="utf-8"))
        parse = c.get("parse", {})  # defaults: Lagoa's documented ones
        self.nulls = {n.strip() for n in parse.get("null_values", ["", "--", "NA", "N/A", "NULL", "null"])}
        self.dates = parse.get("date_formats", ["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d%m%Y"])
        self.comma = parse.get("decimal", ".") == ","
        self.max_rejected = c["dataset"].get("max_rejected_share", 0.05)
        self.columns = c["columns"]
        for col in self.columns:
            col["_re"] = re.compile(col["pattern"]) if "pattern" in col else None

    def date(self, text):
        for f in self.dates:
            try:
                return dt.datetime.strptime(text, f).date()
            except ValueError:
                continue
        raise ValueError("not a date")

    def typed(self, kind, text):
        number = text.replace(",", ".") if self.comma else text
        if kind.startswith("int"):
            f = float(number)  # "12.0" from a spreadsheet is an integer too
            if not f.is_integer():
                raise ValueError("not an integer")
            return int(number) if number.lstrip("+-").isdigit() else int(f)
        if kind.startswith(("decimal", "float", "double")):
            return float(number)
        return self.date(text) if kind == "date" else text

    def check(self, raw):
        """The typed row, or (None, reason) when the contract rejects it."""
        row = {}
        for col in self.columns:
            name, text = col["name"], (raw.get(col["name"]) or "").strip()
            if text in self.nulls:  # NULLs pass every check but nullable
                if not col.get("nullable", True):
                    return None, f"{name} null"
                row[name] = None
                continue
            try:
                value = self.typed(col["type"], text)
            except ValueError:
                return None, f"{name} type"
            bound = lambda b: dt.date.fromisoformat(b) if col["type"] == "date" else b  # bounds are ISO
            if ("min" in col and value < bound(col["min"])) or ("max" in col and value > bound(col["max"])):
                return None, f"{name} range"
            if col["_re"] and not col["_re"].search(text):
                return None, f"{name} pattern"
            if "values" in col and text not in col["values"]:
                return None, f"{name} values"
            if "validator" in col and not VALIDATORS[col["validator"]](text):
                return None, f"{name} fails {col['validator']}"
            row[name] = value
        return row, None

# ------------------------------------------------------------ deliveries

def column_name(header):
    """`NOME DO MUNICÍPIO` -> `nome_do_municipio`, as contracts name columns."""
    plain = unicodedata.normalize("NFKD", str(header)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")

def read_text(path):
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):  # SINESP since 2022
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # DATASUS, INEP and SINESP before 2022
        return data.decode("latin-1")

def read_rows(path):
    """Each record of a delivery as {contract column: text}."""
    if path.suffix.lower() == ".dbf":
        for rec in DBF(path, encoding="latin-1", char_decode_errors="strict"):
            yield {column_name(k): ("" if v is None else str(v)) for k, v in rec.items()}
    elif path.suffix.lower() == ".xlsx":
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for sheet in book.worksheets:  # IBGE: one sheet per year, named by it
            rows = sheet.iter_rows(values_only=True)
            for _ in range(3):  # title, state and a blank row above the header
                next(rows)
            header = [column_name(h) for h in next(rows)]
            for values in rows:
                if all(v is None or str(v).strip() == "" for v in values):
                    break  # the notes come after a blank row
                cells = ["" if v is None else str(int(v)) if isinstance(v, float) and v.is_integer()
                         else str(v) for v in values]
                yield dict(zip(header, cells), ano=sheet.title)
    else:
        reader = csv.reader(read_text(path).splitlines(), delimiter=";")
        header = [column_name(h) for h in next(reader)]
        for values in reader:
            yield dict(zip(header, values))

def load(deliveries, contracts):
    """Accepted rows of every dataset, as Lagoa's tables should hold them."""
    tables = {}
    for folder in sorted(p for p in deliveries.iterdir() if (contracts / f"{p.name}.toml").exists()):
        contract = Contract(contracts / f"{folder.name}.toml")
        accepted, reasons, total = [], Counter(), 0
        for path in sorted(folder.iterdir()):
            rows, rejected = [], 0
            for row, why in map(contract.check, read_rows(path)):
                if row is None:
                    rejected, reasons[why] = rejected + 1, reasons[why] + 1
                else:
                    rows.append(row)
            total += len(rows) + rejected
            # A delivery rejecting more than the contract tolerates is refused whole.
            if rejected > contract.max_rejected * (len(rows) + rejected):
                print(f"  {path.name}: {rejected} rows rejected, over the contract's share: file refused")
                continue
            accepted += rows
        tables[folder.name] = accepted
        note = ", ".join(f"{w}: {n}" for w, n in sorted(reasons.items())) or "none"
        print(f"  {folder.name}: {len(accepted)} of {total} rows accepted (rejected: {note})")
    return tables

# ------------------------------------------------------------ indicators
# Each returns {(municipio7, ano): (numerador, denominador)} from the
# definition's words; params are the header's defaults.

def plain_upper(name):
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()

def code7(t):
    """IBGE codes by their first 6 digits (DATASUS codes), from the population table."""
    return {str(r["cod_uf"] * 100000 + r["cod_munic"])[:6]: str(r["cod_uf"] * 100000 + r["cod_munic"])
            for r in t["ibge_populacao"]}

def per_birth(t, numerator):
    """Cells of live births by mother's residence; `numerator` counts by (cod6, ano)."""
    births = Counter((r["codmunres"], r["dtnasc"].year) for r in t["sinasc_nascidos"])
    codes = code7(t)
    return {(codes[c6], y): (numerator[(c6, y)], n) for (c6, y), n in births.items() if c6 in codes}

def per_inhabitant(t, numerator):
    """Cells of every municipality and year IBGE estimated; `numerator` by (code7, ano)."""
    return {(str(r["cod_uf"] * 100000 + r["cod_munic"]), r["ano"]):
            (numerator(r), r["populacao_estimada"]) for r in t["ibge_populacao"]}

def cobertura_vacinal(t, p):
    doses = Counter((r["codigo_municipio_paciente"], r["data_vacina"].year) for r in t["pni_vacinacao"]
                    if r["sigla_vacina"] == p["vacina"] and r["codigo_dose_vacina"] == int(p["dose"])
                    and r["numero_idade_paciente"] == 0)  # under one year old
    return per_birth(t, doses)

def mortalidade_infantil(t, p):
    # Non-fetal deaths aged in minutes (0), hours (1), days (2) or months (3).
    infants = Counter((r["codmunres"], r["dtobito"].year) for r in t["sim_obitos"]
                      if r["tipobito"] == "2" and r["idade"] and r["idade"][0] in "0123"
                      and r["idade"] not in ("000", "999"))
    return per_birth(t, infants)

def mortalidade_perinatal(t, p):
    """(fetal deaths + deaths in the first week) over (live births + fetal
    deaths), with each named count of a cell beside its two counts."""
    fetal = Counter((r["codmunres"], r["dtobito"].year) for r in t["sim_obitos"] if r["tipobito"] == "1")
    week = Counter((r["codmunres"], r["dtobito"].year) for r in t["sim_obitos"]
                   if r["tipobito"] == "2" and r["idade"] and r["idade"] not in ("000", "999")
                   and (r["idade"][0] in "01" or (r["idade"][0] == "2" and r["idade"] <= "206")))
    births = Counter((r["codmunres"], r["dtnasc"].year) for r in t["sinasc_nascidos"])
    codes = code7(t)
    out = {}
    for (c6, y), n in births.items():
        if c6 in codes:
            f, w = fetal[(c6, y)], week[(c6, y)]
            out[(codes[c6], y)] = (f + w, n + f, {"obitos_fetais": f, "obitos_neonatais_precoces": w,
                                                   "nascidos_vivos_todos": n})
    return out

def homicidios(t, p):
    deaths = Counter((r["codmunres"], r["dtobito"].year) for r in t["sim_obitos"]
                     if r["tipobito"] == "2" and ("X85" <= r["causabas"][:3] <= "Y09" or r["causabas"][:3] == "Y35"))
    return per_inhabitant(t, lambda r: deaths[(str(r["cod_uf"] * 100000 + r["cod_munic"])[:6], r["ano"])])

def mortes_violentas_intencionais(t, p):
    events = {"HOMICIDIO DOLOSO", "FEMINICIDIO", "ROUBO SEGUIDO DE MORTE (LATROCINIO)",
              "LESAO CORPORAL SEGUIDA DE MORTE", "MORTE POR INTERVENCAO DE AGENTE DO ESTADO"}
    victims = Counter()
    for r in t["sinesp_ocorrencias"]:  # SINESP names municipalities, IBGE's way
        if r["evento"] in events and r["total_vitima"] is not None:
            victims[(r["municipio"], r["data_referencia"].year)] += r["total_vitima"]
    return per_inhabitant(t, lambda r: victims[(plain_upper(r["nome_do_municipio"]), r["ano"])])

def tally(rows, key, numerator, denominator=lambda r: True):
    """{key(r): (rows meeting numerator, rows meeting denominator)}, rows keyed None left out."""
    cells = defaultdict(lambda: [0, 0])
    for r in rows:
        if (k := key(r)) is not None:
            cells[k][0] += bool(numerator(r))
            cells[k][1] += bool(denominator(r))
    return {k: tuple(v) for k, v in cells.items()}

def pre_natal_7_consultas(t, p):
    codes = code7(t)
    return tally(t["sinasc_nascidos"],
                 lambda r: (codes[r["codmunres"]], r["dtnasc"].year) if r["codmunres"] in codes else None,
                 lambda r: r["consultas"] == "4",  # 7 or more visits
                 lambda r: p["denominador"] == "todos" or r["consultas"] not in (None, "9"))

def abandono_escolar(t, p):
    return tally(t["censo_matriculas"], lambda r: (r["co_municipio"], r["nu_ano_censo"]),
                 lambda r: r["tp_situacao"] == "2",  # left school
                 lambda r: p["denominador"] == "todas" or r["tp_situacao"] in ("2", "4", "5"))

def distorcao_idade_serie(t, p):
    # The age each year of ensino fundamental expects (INEP stage codes).
    age = {"14": 6, "15": 7, "16": 8, "17": 9, "18": 10, "19": 11, "20": 12, "21": 13, "41": 14}
    return tally(t["censo_matriculas"], lambda r: (r["co_municipio"], r["nu_ano_censo"]),
                 lambda r: r["tp_etapa_ensino"] in age and r["nu_idade_referencia"] >= age[r["tp_etapa_ensino"]] + 2)

INDICATORS = {f.__name__: f for f in (abandono_escolar, cobertura_vacinal, distorcao_idade_serie, homicidios,
                                      mortalidade_infantil, mortalidade_perinatal, mortes_violentas_intencionais,
                                      pre_natal_7_consultas)}

# ------------------------------------------------------------ the attacker

def sensitive(count, k):
    return 0 < count < k

def atoms(declared, ind, kind):
    """The names a declared count adds up (`a + b`); an undeclared count is
    a name of its own indicator alone."""
    return [a.strip() for a in declared.split("+")] if declared else [f"{ind}/{kind}"]

def named_counts(cell):
    """The named counts a recomputed cell gives beside its two counts, if any."""
    return cell[2] if len(cell) > 2 and isinstance(cell[2], dict) else None

def parts(cell, names, kind):
    """{name: value} of one kind of a recomputed cell: its named counts when
    the recomputation gives them, else the count itself (one name)."""
    if named_counts(cell) is not None:
        return {a: cell[2].get(a, 0) for a in names}
    assert len(names) == 1, f"a sum {names} needs its named counts recomputed"
    return {names[0]: cell[kind]}

def extremes(n, rows, objective):
    """(min, max or None when unbounded) of `objective` @ x over whole x >= 0
    with every (coefficients, low, high) of `rows`, by scipy's MILP (HiGHS)."""
    a = np.array([r[0] for r in rows]) if rows else np.zeros((0, n))
    cons = [LinearConstraint(a, [r[1] for r in rows], [r[2] for r in rows])] if rows else []
    ends = []
    for sign in (1, -1):
        r = milp(sign * objective, constraints=cons, integrality=np.ones(n), bounds=Bounds(0, np.inf))
        # HiGHS says "infeasible or unbounded"; the minimum was feasible.
        if r.status == 3 or (r.status == 4 and sign == -1):
            ends.append(None)
            continue
        if not r.success:
            raise SystemExit(f"the attacker's problem has no solution: {r.message}")
        ends.append(round(objective @ r.x))
    return ends[0], ends[1]

def protected(interval, k, width):
    low, high = interval
    return high is None or (high >= k and high - low >= width)

def windows(annual, period):
    """The cells a definition with `-- period: N` publishes: for each year Y
    from the first of the results + N - 1 to the last, each municipality's
    counts of Y - N + 1 .. Y added up (a year it has no row for counts zero).
    Each cell also says which years it adds up."""
    if period == 1:
        return {key: cell + ((key[1], key[1]),) for key, cell in annual.items()}
    years = [y for _, y in annual]
    places = sorted({m for m, _ in annual})
    out = {}
    for y in range(min(years) + period - 1, max(years) + 1):
        for m in places:
            rows = [annual[(m, yy)] for yy in range(y - period + 1, y + 1) if (m, yy) in annual]
            num, den = sum(r[0] for r in rows), sum(r[1] for r in rows)
            named = Counter()
            for r in rows:
                named.update(named_counts(r) or {})
            has_names = any(named_counts(r) is not None for r in annual.values())
            out[(m, y)] = (num, den) + ((dict(named),) if has_names else ()) + ((y - period + 1, y),)
    return out

def years_of(cell):
    first, last = cell[-1]
    return range(first, last + 1)

def audit(indicators):
    """Everything published at once: a declared name (the `-- numerator:`
    and `-- denominator:` headers, sums `a + b` included) is the same
    unknown of a municipality and year in every indicator; each published
    count, total and sum (over every year of its period) is an equation
    over them. Bounds every withheld small count and every small name a
    declared sum adds up, each problem cut to the equations that reach it.
    (small counts attacked, narrowest range, problems)."""
    truth, rows, needs, published = {}, [], {}, {}
    problems = []
    for ind in indicators:
        pub = {(m, y): (num, den) for m, y, num, den, _, _, total in ind["rows"] if not total}
        totals = {y: (num, den) for m, y, num, den, _, _, total in ind["rows"] if total}
        need = (ind["k"], ind["width"])
        for kind in (0, 1):
            names = atoms(ind["counts"][kind], ind["name"], kind)
            terms_of = {}
            for (m, y), cell in ind["cells"].items():
                span = years_of(cell)
                for yy in span:
                    row = ind["annual"].get((m, yy))
                    for a, value in (parts(row, names, kind) if row else {a: 0 for a in names}).items():
                        if truth.setdefault((a, m, yy), value) != value:
                            problems.append(f"{a} {m}/{yy}: declared the same count, computed {truth[(a, m, yy)]} and {value}")
                terms = [((a, m, yy), 1) for yy in span for a in names]
                terms_of[(m, y)] = terms
                if len(names) > 1:
                    for a, value in parts(cell, names, kind).items():
                        if sensitive(value, ind["k"]):
                            key = ((a,), m, (span[0], span[-1]))
                            needs[key] = tuple(map(max, needs.get(key, need), need))
                key = (tuple(sorted(names)), m, (span[0], span[-1]))
                value = pub.get((m, y), (None, None))[kind]
                if value is not None:
                    rows.append((terms, value, value))
                    published.setdefault(key, ind["name"])
                else:
                    # Lagoa never withholds a zero beside a published total.
                    if totals.get(y, (None, None))[kind] is not None:
                        rows.append((terms, 1, np.inf))
                    if sensitive(cell[kind], ind["k"]):
                        needs[key] = tuple(map(max, needs.get(key, need), need))
            if ind["period"] > 1:
                # Each year's own small counts must not be told by
                # differencing overlapping periods either.
                for (m, yy), row in ind["annual"].items():
                    named = parts(row, names, kind)
                    small = [tuple(sorted(names))] if sensitive(sum(named.values()), ind["k"]) else []
                    if len(names) > 1:
                        small += [(a,) for a, v in named.items() if sensitive(v, ind["k"])]
                    for key in ((n, m, (yy, yy)) for n in small):
                        needs[key] = tuple(map(max, needs.get(key, need), need))
            if ind["proportion"] and kind == 1:
                # The numerator counts a part of the denominator, every
                # year (a period adds up yearly rows that each are one).
                num = atoms(ind["counts"][0], ind["name"], 0)
                for m, yy in {(m, yy) for (m, y), cell in ind["cells"].items() for yy in years_of(cell)}:
                    terms = [((a, m, yy), 1) for a in num] + [((a, m, yy), -1) for a in names]
                    rows.append((terms, -np.inf, 0))
            for y, t in totals.items():
                if t[kind] is not None:
                    over = [term for (m, yy), terms in terms_of.items() if yy == y for term in terms]
                    rows.append((over, t[kind], t[kind]))
    # Unknowns no equation ties together are separate problems.
    parent = {u: u for u in truth}
    def root(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u
    for terms, _, _ in rows:
        for (u, _), (v, _) in zip(terms, terms[1:]):
            parent[root(u)] = root(v)
    component = defaultdict(list)
    for i, (terms, _, _) in enumerate(rows):
        if terms:
            component[root(terms[0][0])].append(i)
    attacked, widths = 0, []
    for (names, m, (first, last)), (k, w) in sorted(needs.items()):
        what = f"{' + '.join(names)} {m}/{first}" + (f"-{last}" if last != first else "")
        if (names, m, (first, last)) in published:
            problems.append(f"{what}: a small count withheld, {published[(names, m, (first, last))]} published")
            continue
        attacked += 1
        target = [((a, m, y), 1) for y in range(first, last + 1) for a in names]
        mine = component[root(target[0][0])]
        unknowns = {u: i for i, u in enumerate(sorted({u for r in mine for u, _ in rows[r][0]} | {u for u, _ in target}))}
        def vector(terms):
            v = np.zeros(len(unknowns))
            for u, c in terms:
                v[unknowns[u]] += c
            return v
        low, high = extremes(len(unknowns), [(vector(rows[r][0]), rows[r][1], rows[r][2]) for r in mine], vector(target))
        if high is not None:
            widths.append(high - low)
        if not protected((low, high), k, w):
            problems.append(f"{what}: the attacker pins a small count to {low}..{high}")
    return attacked, min(widths) if widths else None, problems

# ------------------------------------------------------------ comparison

def header(sql_path):
    """min_cell, protection, per, the default params, the declared count
    names (numerator, denominator), whether it is a proportion and how many
    years a row adds up, from a
    definition's `-- key: value` lines."""
    meta, params = {}, {}
    for line in sql_path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"--\s*(\w+):\s*(.*)", line)
        if m and m[1] == "param":
            name, default = re.match(r"(\w+)\s*=\s*(\S+)", m[2]).groups()
            params[name] = default
        elif m:
            meta[m[1]] = m[2].strip()
    def named(key):
        name = meta.get(key)
        for p, v in params.items():
            name = name and name.replace("${" + p + "}", v.lower().replace("-", "_").replace(".", "_"))
        return name
    k = int(meta["min_cell"])
    return (k, int(meta.get("protection", k)), float(meta["per"]), params,
            (named("numerator"), named("denominator")), meta.get("proportion") == "yes",
            int(meta.get("period", 1)))

def published_rows(path):
    as_int = lambda s: None if s == "" else int(s)
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield (r["municipio"], int(r["ano"]), as_int(r["numerador"]), as_int(r["denominador"]),
                   None if r["valor"] == "" else float(r["valor"]), r["supressao"], r["total_estado"] == "true")

def compare_cell(where, mine, per, got, k):
    """Differences between one published row and what it should be: counts as
    recomputed or withheld (always when small), the label, the value."""
    num, den, valor, sup = got
    out = []
    for what, pub, exp in (("numerador", num, mine[0]), ("denominador", den, mine[1])):
        if pub is not None and pub != exp:
            out.append(f"{where}: {what} {pub}, recomputed {exp}")
        if pub is not None and sensitive(exp, k):
            out.append(f"{where}: {what} {exp} published, below min_cell {k}")
    withheld = num is None or den is None
    if sup != ("suprimido" if withheld else ""):
        out.append(f"{where}: supressao {sup!r} with {'a withheld' if withheld else 'no withheld'} count")
    exp_v = mine[0] * per / mine[1] if not withheld and mine[1] != 0 else None
    if (valor is None) != (exp_v is None) or (exp_v is not None and abs(valor - exp_v) > 1e-9 * max(abs(exp_v), 1e-300)):
        out.append(f"{where}: valor {valor}, recomputed {exp_v}")
    return out

def check(cells, rows, k, per):
    """(withheld cells, of them complementary, problems) of one indicator."""
    problems, seen, totals, pub = [], set(), defaultdict(list), {}
    for m, y, num, den, valor, sup, total in rows:
        if total:
            totals[y].append((m, num, den, valor, sup))
            continue
        if (m, y) in seen:
            problems.append(f"{m}/{y}: published twice")
        seen.add((m, y))
        if (m, y) not in cells:
            problems.append(f"{m}/{y}: published, not recomputed")
            continue
        problems += compare_cell(f"{m}/{y}", cells[(m, y)], per, (num, den, valor, sup), k)
        pub[(m, y)] = (num, den)
    problems += [f"{m}/{y}: recomputed, not published" for m, y in sorted(set(cells) - seen)]
    for y in sorted({y for _, y in cells} | set(totals)):
        munis = sorted(m for m, yy in cells if yy == y)
        if len(totals[y]) != 1:
            problems.append(f"total/{y}: {len(totals[y])} total rows published")
            continue
        m, tnum, tden, tvalor, tsup = totals[y][0]
        if munis and m != munis[0][:2]:
            problems.append(f"total/{y}: coded {m}, expected {munis[0][:2]}")
        sums = tuple(sum(cells[(mm, y)][i] for mm in munis) for i in (0, 1))
        problems += compare_cell(f"total/{y}", sums, per, (tnum, tden, tvalor, tsup), k)
    withheld = [c for c, p in pub.items() if None in p]
    complementary = [c for c in withheld if not any(sensitive(x, k) for x in cells[c][:2])]
    return len(withheld), len(complementary), problems

def report(name, line, problems):
    print(f"{name}: {line}: {f'{len(problems)} differences' if problems else 'OK'}")
    for p in problems[:10]:
        print(f"    {p}")
    return bool(problems)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deliveries", type=Path, required=True)
    ap.add_argument("--published", type=Path, required=True)
    ap.add_argument("--definitions", type=Path, required=True)
    ap.add_argument("--contracts", type=Path, default=REPO / "pipeline/demo/office/contratos")
    ap.add_argument("--same-as", action="append", default=[], metavar="NAME=REFERENCE",
                    help="a definition recomputed as a reference indicator is (a copy with another header)")
    a = ap.parse_args()
    same_as = dict(pair.split("=", 1) for pair in a.same_as)
    print("contracts applied to the deliveries:")
    tables = load(a.deliveries, a.contracts)
    failed, indicators = False, []
    for sql in sorted(a.definitions.glob("*.sql")):
        name, (k, width, per, params, counts, proportion, period) = sql.stem, header(sql)
        csv_path = a.published / f"ind_{name}.csv"
        recompute = INDICATORS.get(same_as.get(name, name))
        if recompute is None or not csv_path.exists():
            print(f"{name}: FAILED, {'no recomputation for it' if recompute is None else f'{csv_path} missing'}")
            failed = True
            continue
        annual = recompute(tables, params)
        cells = windows(annual, period)
        rows = list(published_rows(csv_path))
        hidden, extra, problems = check(cells, rows, k, per)
        failed |= report(name, f"{len(cells)} cells checked (k={k}, {hidden} suppressed, {extra} complementary) "
                               f"+ {len({y for _, y in cells})} state totals", problems)
        indicators.append({"name": name, "k": k, "width": width, "counts": counts, "proportion": proportion,
                           "period": period, "cells": cells, "annual": annual, "rows": rows})
    attacked, narrowest, problems = audit(indicators)
    failed |= report("attacker", f"{attacked} withheld small counts bounded from everything published together, "
                                 f"narrowest range an attacker reaches {narrowest}", problems)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
