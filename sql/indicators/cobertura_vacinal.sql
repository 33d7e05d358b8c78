-- name: cobertura_vacinal
-- title: Cobertura vacinal
-- description: Doses que completam o esquema de uma vacina, aplicadas em crianças com menos de um ano, por nascido vivo do mesmo ano e município de residência. A meta do PNI é 95 % (90 % para BCG). Pode passar de 100 % quando crianças de outros municípios se vacinam ali.
-- unit: % das crianças nascidas vivas no ano
-- formula: doses da vacina e dose escolhidas em menores de 1 ano residentes (SI-PNI) ÷ nascidos vivos de mães residentes (SINASC) × 100
-- sources: pni_vacinacao, sinasc_nascidos, ibge_populacao
-- trigger: after-sources
-- min_cell: 5
-- per: 100
-- numerator: doses_${vacina}_${dose}_menores_1_ano
-- denominator: nascidos_vivos_todos
-- param: vacina = PENTA (PENTA | VIP | BCG): a vacina (sigla do SI-PNI)
-- param: dose = 3 (1 | 2 | 3): a dose que completa o esquema (3 para PENTA e VIP, 1 para BCG)
WITH municipios AS (
    SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio
    FROM ibge_populacao
),
nascidos AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtnasc) AS INTEGER) AS ano, count(*) AS nascidos
    FROM sinasc_nascidos
    GROUP BY 1, 2
),
doses AS (
    SELECT codigo_municipio_paciente AS cod6, CAST(date_part('year', data_vacina) AS INTEGER) AS ano, count(*) AS doses
    FROM pni_vacinacao
    WHERE sigla_vacina = '${vacina}'
      AND codigo_dose_vacina = ${dose}
      AND numero_idade_paciente = 0
    GROUP BY 1, 2
)
SELECT m.municipio,
       n.ano,
       coalesce(d.doses, 0) AS numerador,
       n.nascidos AS denominador
FROM nascidos n
JOIN municipios m ON left(m.municipio, 6) = n.cod6
LEFT JOIN doses d ON d.cod6 = n.cod6 AND d.ano = n.ano
