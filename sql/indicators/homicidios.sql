-- name: homicidios
-- title: Taxa de homicídios
-- description: Óbitos por agressão (CID-10 X85 a Y09) e por intervenção legal (Y35) de residentes, por 100 mil habitantes, por município e ano (definição do Atlas da Violência, IPEA).
-- unit: óbitos por 100.000 habitantes
-- formula: óbitos de residentes com causa básica X85–Y09 ou Y35 (SIM) ÷ população residente estimada (IBGE) × 100.000
-- sources: sim_obitos, ibge_populacao
-- trigger: after-sources
-- min_cell: 5
-- per: 100000
-- numerator: obitos_homicidio
-- denominator: populacao_residente
WITH populacao AS (
    SELECT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio, ano, populacao_estimada AS habitantes
    FROM ibge_populacao
),
obitos AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtobito) AS INTEGER) AS ano, count(*) AS obitos
    FROM sim_obitos
    WHERE tipobito = '2'
      AND ((substr(causabas, 1, 3) >= 'X85' AND substr(causabas, 1, 3) <= 'Y09')
           OR substr(causabas, 1, 3) = 'Y35')
    GROUP BY 1, 2
)
SELECT p.municipio,
       p.ano,
       coalesce(o.obitos, 0) AS numerador,
       p.habitantes AS denominador
FROM populacao p
LEFT JOIN obitos o ON o.cod6 = left(p.municipio, 6) AND o.ano = p.ano
