-- name: abandono_escolar
-- title: Taxa de abandono no ensino fundamental
-- description: Alunos que deixaram de frequentar a escola durante o ano, entre os matriculados no ensino fundamental da rede, por município e ano (definição do INEP: transferidos e falecidos fora da base).
-- unit: % das matrículas
-- formula: matrículas com situação "deixou de frequentar" ÷ matrículas aprovadas, reprovadas ou que deixaram de frequentar × 100
-- sources: censo_matriculas
-- trigger: after-sources
-- min_cell: 5
-- per: 100
-- numerator: matriculas_abandono
-- denominator: matriculas_${denominador}
-- proportion: yes
-- param: denominador = inep (inep | todas): inep = aprovados + reprovados + abandono; todas = todas as matrículas, transferidos e falecidos incluídos
SELECT co_municipio AS municipio,
       nu_ano_censo AS ano,
       sum(CASE WHEN tp_situacao = '2' THEN 1 ELSE 0 END) AS numerador,
       sum(CASE WHEN '${denominador}' = 'todas' OR tp_situacao IN ('2', '4', '5') THEN 1 ELSE 0 END) AS denominador
FROM censo_matriculas
GROUP BY 1, 2
