-- name: distorcao_idade_serie
-- title: Taxa de distorção idade-série no ensino fundamental
-- description: Alunos com dois anos ou mais acima da idade recomendada para o ano que cursam (6 anos no 1º ano a 14 no 9º), por município e ano.
-- unit: % das matrículas
-- formula: matrículas com idade de referência ≥ idade recomendada para a etapa + 2 ÷ matrículas do ensino fundamental × 100
-- sources: censo_matriculas
-- trigger: after-sources
-- min_cell: 5
-- per: 100
-- numerator: matriculas_distorcao_idade_serie
-- denominator: matriculas_ensino_fundamental
-- proportion: yes
SELECT co_municipio AS municipio,
       nu_ano_censo AS ano,
       sum(CASE WHEN nu_idade_referencia >= 2 + CASE tp_etapa_ensino
                    WHEN '14' THEN 6 WHEN '15' THEN 7 WHEN '16' THEN 8
                    WHEN '17' THEN 9 WHEN '18' THEN 10 WHEN '19' THEN 11
                    WHEN '20' THEN 12 WHEN '21' THEN 13 WHEN '41' THEN 14 END
                THEN 1 ELSE 0 END) AS numerador,
       count(*) AS denominador
FROM censo_matriculas
GROUP BY 1, 2
