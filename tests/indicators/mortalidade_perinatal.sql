-- name: mortalidade_perinatal
-- title: Taxa de mortalidade perinatal
-- description: Óbitos fetais e óbitos de nascidos vivos com menos de 7 dias de vida por mil nascimentos totais (nascidos vivos e óbitos fetais), por município de residência da mãe e ano (RIPSA C.5). Usada pelos testes: um indicador cujos totais somam contagens que outros publicam.
-- unit: óbitos por 1.000 nascimentos totais
-- formula: (óbitos fetais + óbitos não fetais com menos de 7 dias, SIM) ÷ (nascidos vivos, SINASC + óbitos fetais, SIM) × 1.000
-- sources: sim_obitos, sinasc_nascidos, ibge_populacao
-- trigger: manual
-- min_cell: 5
-- per: 1000
-- numerator: obitos_fetais + obitos_neonatais_precoces
-- denominator: nascidos_vivos_todos + obitos_fetais
WITH municipios AS (
    SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio
    FROM ibge_populacao
),
nascidos AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtnasc) AS INTEGER) AS ano, count(*) AS nascidos
    FROM sinasc_nascidos
    GROUP BY 1, 2
),
fetais AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtobito) AS INTEGER) AS ano, count(*) AS obitos
    FROM sim_obitos
    WHERE tipobito = '1'
    GROUP BY 1, 2
),
precoces AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtobito) AS INTEGER) AS ano, count(*) AS obitos
    FROM sim_obitos
    WHERE tipobito = '2'
      AND idade NOT IN ('000', '999')
      AND (substr(idade, 1, 1) IN ('0', '1') OR (substr(idade, 1, 1) = '2' AND idade <= '206'))
    GROUP BY 1, 2
)
SELECT m.municipio,
       n.ano,
       coalesce(f.obitos, 0) AS obitos_fetais,
       coalesce(p.obitos, 0) AS obitos_neonatais_precoces,
       n.nascidos AS nascidos_vivos_todos,
       coalesce(f.obitos, 0) + coalesce(p.obitos, 0) AS numerador,
       n.nascidos + coalesce(f.obitos, 0) AS denominador
FROM nascidos n
JOIN municipios m ON left(m.municipio, 6) = n.cod6
LEFT JOIN fetais f ON f.cod6 = n.cod6 AND f.ano = n.ano
LEFT JOIN precoces p ON p.cod6 = n.cod6 AND p.ano = n.ano
