-- name: mortes_violentas_intencionais
-- title: Mortes violentas intencionais (fonte policial)
-- description: Vítimas de homicídio doloso, feminicídio, latrocínio, lesão corporal seguida de morte e mortes por intervenção de agente do Estado registradas pela polícia (SINESP), por 100 mil habitantes (definição do Anuário do FBSP). O SINESP nomeia os municípios sem código: o nome do IBGE, sem acentos e em maiúsculas, faz a ligação.
-- unit: vítimas por 100.000 habitantes
-- formula: vítimas das cinco naturezas de morte violenta intencional (SINESP) ÷ população residente estimada (IBGE) × 100.000
-- sources: sinesp_ocorrencias, ibge_populacao
-- trigger: after-sources
-- min_cell: 0
-- per: 100000
-- numerator: vitimas_mvi
-- denominator: populacao_residente
WITH populacao AS (
    SELECT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio,
           ano,
           populacao_estimada AS habitantes,
           upper(translate(nome_do_municipio, 'áàâãéêíóôõúüçÁÀÂÃÉÊÍÓÔÕÚÜÇ', 'aaaaeeiooouucAAAAEEIOOOUUC')) AS nome
    FROM ibge_populacao
),
vitimas AS (
    SELECT municipio AS nome, CAST(date_part('year', data_referencia) AS INTEGER) AS ano, sum(total_vitima) AS vitimas
    FROM sinesp_ocorrencias
    WHERE evento IN ('HOMICIDIO DOLOSO', 'FEMINICIDIO', 'ROUBO SEGUIDO DE MORTE (LATROCINIO)',
                     'LESAO CORPORAL SEGUIDA DE MORTE', 'MORTE POR INTERVENCAO DE AGENTE DO ESTADO')
    GROUP BY 1, 2
)
SELECT p.municipio,
       p.ano,
       coalesce(v.vitimas, 0) AS numerador,
       p.habitantes AS denominador
FROM populacao p
LEFT JOIN vitimas v ON v.nome = p.nome AND v.ano = p.ano
