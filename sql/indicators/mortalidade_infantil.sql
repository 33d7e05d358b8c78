-- name: mortalidade_infantil
-- title: Taxa de mortalidade infantil
-- description: Óbitos de crianças com menos de um ano de idade por mil nascidos vivos, por município de residência da mãe e ano (método direto, RIPSA/IDB). Instável em municípios pequenos: leia junto com o total do estado.
-- unit: óbitos por 1.000 nascidos vivos
-- formula: óbitos não fetais de residentes com menos de 1 ano (SIM, idade em minutos, horas, dias ou meses) ÷ nascidos vivos de mães residentes (SINASC) × 1.000
-- sources: sim_obitos, sinasc_nascidos, ibge_populacao
-- trigger: after-sources
-- min_cell: 5
-- per: 1000
-- numerator: obitos_menores_1_ano
-- denominator: nascidos_vivos_todos
WITH municipios AS (
    SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio
    FROM ibge_populacao
),
nascidos AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtnasc) AS INTEGER) AS ano, count(*) AS nascidos
    FROM sinasc_nascidos
    GROUP BY 1, 2
),
obitos AS (
    SELECT codmunres AS cod6, CAST(date_part('year', dtobito) AS INTEGER) AS ano, count(*) AS obitos
    FROM sim_obitos
    WHERE tipobito = '2'
      AND substr(idade, 1, 1) IN ('0', '1', '2', '3')
      AND idade NOT IN ('000', '999')
    GROUP BY 1, 2
)
SELECT m.municipio,
       n.ano,
       coalesce(o.obitos, 0) AS numerador,
       n.nascidos AS denominador
FROM nascidos n
JOIN municipios m ON left(m.municipio, 6) = n.cod6
LEFT JOIN obitos o ON o.cod6 = n.cod6 AND o.ano = n.ano
