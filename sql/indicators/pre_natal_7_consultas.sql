-- name: pre_natal_7_consultas
-- title: Nascidos vivos de mães com 7 ou mais consultas de pré-natal
-- description: Proporção de nascidos vivos cujas mães fizeram sete ou mais consultas de pré-natal, por município de residência da mãe e ano. O denominador varia entre fontes oficiais e é um parâmetro.
-- unit: % dos nascidos vivos
-- formula: nascidos vivos de mães residentes com 7 ou mais consultas (SINASC, CONSULTAS = 4) ÷ nascidos vivos de mães residentes × 100
-- sources: sinasc_nascidos, ibge_populacao
-- trigger: after-sources
-- min_cell: 5
-- per: 100
-- numerator: nascidos_vivos_7_consultas
-- denominator: nascidos_vivos_${denominador}
-- proportion: yes
-- param: denominador = todos (todos | informados): todos = todos os nascidos vivos (IDSUS); informados = só os com número de consultas conhecido (PROADESS)
WITH municipios AS (
    SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio
    FROM ibge_populacao
)
SELECT m.municipio,
       CAST(date_part('year', s.dtnasc) AS INTEGER) AS ano,
       sum(CASE WHEN s.consultas = '4' THEN 1 ELSE 0 END) AS numerador,
       sum(CASE WHEN '${denominador}' = 'todos' OR s.consultas <> '9' THEN 1 ELSE 0 END) AS denominador
FROM sinasc_nascidos s
JOIN municipios m ON left(m.municipio, 6) = s.codmunres
GROUP BY 1, 2
