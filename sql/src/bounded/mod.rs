//! No single value or batch larger than its share of the query's memory.
//!
//! DataFusion's memory pool (`query.memory_limit`) accounts for what
//! operators hold (hash tables, sorts, aggregates), not for what scalar
//! functions produce: `repeat('x', 1e9)` once built a 1 GB string under a
//! 512 MiB limit, and `unnest(generate_series(1, 1e8))` grew to 3.6 GB. So
//! a governed session gets two bounds, both at `max_bytes` (a quarter of
//! the memory limit):
//!
//! - every scalar function is wrapped ([`BoundedFunction`]): those whose
//!   output can be far larger than their input (`repeat`, `lpad`, `rpad`,
//!   `array_repeat`, `array_resize`, `range`, `generate_series`, `replace`,
//!   `regexp_replace`) have their output's size estimated from their
//!   arguments *before* they run, and every function's output is measured
//!   after it runs; a function the optimizer rewrites into another is
//!   wrapped again;
//! - the string operator `||`, which is no function, becomes one
//!   ([`BoundedConcat`], evaluated by DataFusion's own operator, then
//!   measured), so a chain of CTEs that each double a string stops at the
//!   bound;
//! - every operator that can grow its input (projections, unnest, joins,
//!   recursion) has its output batches measured ([`BoundedExec`]).
//!
//! Either refusal is DataFusion's "resources exhausted", which the query
//! path reports as the memory limit's error.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNano, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, ExprSchema, Result, ScalarValue};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt};
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod estimate;
pub mod wire;

use estimate::estimate_output;

/// `ctx` with every scalar function wrapped and every projection's and
/// unnest's batches measured, at `max_bytes` each.
pub fn bound_context(ctx: &SessionContext, max_bytes: usize) -> SessionContext {
    // `||` becomes bounded before anything folds constants: the optimizer's
    // simplification evaluates constant expressions while planning.
    let mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> =
        vec![Arc::new(BoundConcatenation { max_bytes })];
    rules.extend(datafusion::optimizer::Optimizer::new().rules);
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_optimizer_rules(rules)
        .with_physical_optimizer_rule(Arc::new(BoundBatches { max_bytes }))
        .build();
    let bounded = SessionContext::new_with_state(state);
    for function in wrapped_functions(ctx, max_bytes).iter() {
        bounded.register_udf(function.clone());
    }
    bounded
}

/// Every scalar function of `ctx`, wrapped at `max_bytes`: made once per
/// bound and kept (a session is opened for every query; the functions are
/// DataFusion's built-in ones, the same in every session).
fn wrapped_functions(ctx: &SessionContext, max_bytes: usize) -> Arc<Vec<ScalarUDF>> {
    /// The wrapped functions, by bound.
    type Made = std::sync::Mutex<Vec<(usize, Arc<Vec<ScalarUDF>>)>>;
    static MADE: std::sync::OnceLock<Made> = std::sync::OnceLock::new();
    let made = MADE.get_or_init(Default::default);
    if let Some((_, functions)) = made
        .lock()
        .expect("wrapped functions")
        .iter()
        .find(|(bound, _)| *bound == max_bytes)
    {
        return Arc::clone(functions);
    }
    let mut seen = HashSet::new();
    let functions: Arc<Vec<ScalarUDF>> = Arc::new(
        ctx.state()
            .scalar_functions()
            .values()
            .filter(|f| seen.insert(f.name().to_owned()))
            .map(|f| bound_function(f.as_ref().clone(), max_bytes))
            .collect(),
    );
    made.lock()
        .expect("wrapped functions")
        .push((max_bytes, Arc::clone(&functions)));
    functions
}

fn bound_function(inner: ScalarUDF, max_bytes: usize) -> ScalarUDF {
    if inner.inner().downcast_ref::<BoundedFunction>().is_some() {
        return inner;
    }
    let mut signature = inner.signature().clone();
    if AMPLIFIERS.contains(&inner.name()) {
        // Not folded while planning: planning cannot be interrupted, and
        // a folded 80 MB list is then printed into every plan's names.
        // At execution the deadline and cancellation reach it.
        signature.volatility = Volatility::Volatile;
    }
    ScalarUDF::new_from_impl(BoundedFunction {
        inner,
        signature,
        max_bytes,
    })
}

/// The functions whose output can be far larger than their input
/// (estimated in [`estimate_output`]).
const AMPLIFIERS: [&str; 13] = [
    "repeat",
    "lpad",
    "rpad",
    "array_repeat",
    "list_repeat",
    "array_resize",
    "list_resize",
    "range",
    "generate_series",
    "gen_series",
    "replace",
    "regexp_replace",
    "unnest",
];

fn too_large(what: &str, max_bytes: usize) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!(
        "{what} would produce more than one value or batch may take ({max_bytes} bytes, a quarter of query.memory_limit)"
    ))
}

/// A scalar function whose output is bounded; everything else is the
/// wrapped function's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BoundedFunction {
    inner: ScalarUDF,
    /// The wrapped function's, volatile for the amplifiers.
    signature: Signature,
    max_bytes: usize,
}

impl BoundedFunction {
    fn inner(&self) -> &Arc<dyn ScalarUDFImpl> {
        self.inner.inner()
    }
}

#[warn(clippy::missing_trait_methods)]
impl ScalarUDFImpl for BoundedFunction {
    fn name(&self) -> &str {
        self.inner().name()
    }

    #[allow(deprecated)]
    fn display_name(&self, args: &[Expr]) -> Result<String> {
        self.inner().display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner().return_field_from_args(args)
    }

    #[allow(deprecated)]
    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        self.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.inner().name().to_owned();
        if let Some(estimate) = estimate_output(&name, &args.args, args.number_rows)
            && estimate > self.max_bytes as u128
        {
            return Err(too_large(&name, self.max_bytes));
        }
        let output = self.inner().invoke_with_args(args)?;
        let size = match &output {
            ColumnarValue::Array(a) => a.get_array_memory_size(),
            ColumnarValue::Scalar(s) => s.size(),
        };
        if size > self.max_bytes {
            return Err(too_large(&name, self.max_bytes));
        }
        Ok(output)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        self.inner()
            .with_updated_config(config)
            .map(|f| bound_function(f, self.max_bytes))
    }

    fn aliases(&self) -> &[String] {
        self.inner().aliases()
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // A function simplified into others must not escape the bound.
        match self.inner().simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                let max_bytes = self.max_bytes;
                let expr = expr
                    .transform_up(|e| match e {
                        Expr::ScalarFunction(f) => {
                            let func = Arc::new(bound_function((*f.func).clone(), max_bytes));
                            Ok(Transformed::yes(Expr::ScalarFunction(
                                ScalarFunction::new_udf(func, f.args),
                            )))
                        }
                        other => Ok(Transformed::no(other)),
                    })?
                    .data;
                Ok(ExprSimplifyResult::Simplified(expr))
            }
            original => Ok(original),
        }
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<datafusion::logical_expr::preimage::PreimageResult> {
        self.inner().preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner().conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner().short_circuits()
    }

    fn evaluate_bounds(
        &self,
        input: &[&datafusion::logical_expr::interval_arithmetic::Interval],
    ) -> Result<datafusion::logical_expr::interval_arithmetic::Interval> {
        self.inner().evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &datafusion::logical_expr::interval_arithmetic::Interval,
        inputs: &[&datafusion::logical_expr::interval_arithmetic::Interval],
    ) -> Result<Option<Vec<datafusion::logical_expr::interval_arithmetic::Interval>>> {
        self.inner().propagate_constraints(interval, inputs)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<datafusion::logical_expr::StructFieldMapping> {
        self.inner().struct_field_mapping(literal_args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner().output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner().preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner().strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner().coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner().documentation()
    }

    fn placement(
        &self,
        args: &[datafusion::logical_expr::ExpressionPlacement],
    ) -> datafusion::logical_expr::ExpressionPlacement {
        self.inner().placement(args)
    }
}

/// Turns every `a || b` on strings into [`BoundedConcat`]; runs first,
/// after type coercion (an analyzer rule) and before constant folding.
#[derive(Debug)]
struct BoundConcatenation {
    max_bytes: usize,
}

impl OptimizerRule for BoundConcatenation {
    fn name(&self) -> &str {
        "lagoa_bound_concatenation"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // Expressions read their input's columns (a join's read both sides,
        // which its own schema holds).
        let schema = match plan.inputs().as_slice() {
            [input] => Arc::clone(input.schema()),
            _ => Arc::clone(plan.schema()),
        };
        let max_bytes = self.max_bytes;
        plan.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                Expr::BinaryExpr(b) if b.op == Operator::StringConcat => {
                    let (left, right) = (b.left.get_type(&schema), b.right.get_type(&schema));
                    match (left, right) {
                        (Ok(left), Ok(right)) => {
                            let concat = BoundedConcat::new(left, right, max_bytes);
                            Ok(Transformed::yes(Expr::ScalarFunction(
                                ScalarFunction::new_udf(
                                    Arc::new(ScalarUDF::new_from_impl(concat)),
                                    vec![*b.left, *b.right],
                                ),
                            )))
                        }
                        // A type the plan cannot tell here: leave the operator.
                        _ => Ok(Transformed::no(Expr::BinaryExpr(b))),
                    }
                }
                other => Ok(Transformed::no(other)),
            })
        })
    }
}

/// `left || right` as DataFusion's operator computes it, then measured.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BoundedConcat {
    signature: Signature,
    left: DataType,
    right: DataType,
    max_bytes: usize,
}

impl BoundedConcat {
    fn new(left: DataType, right: DataType, max_bytes: usize) -> Self {
        BoundedConcat {
            signature: Signature::exact(
                vec![left.clone(), right.clone()],
                datafusion::logical_expr::Volatility::Immutable,
            ),
            left,
            right,
            max_bytes,
        }
    }
}

impl ScalarUDFImpl for BoundedConcat {
    fn name(&self) -> &str {
        "lagoa_bounded_concat"
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        self.schema_name(args)
    }

    /// The operator's own name, so the query's column names do not change.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(format!(
            "{} || {}",
            args[0].schema_name(),
            args[1].schema_name()
        ))
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        BinaryTypeCoercer::new(&self.left, &Operator::StringConcat, &self.right).get_result_type()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::physical_expr::expressions::{BinaryExpr, Column};
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("l", self.left.clone(), true),
            Field::new("r", self.right.clone(), true),
        ]));
        let batch = RecordBatch::try_new_with_options(
            schema,
            arrays,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        let operator = BinaryExpr::new(
            Arc::new(Column::new("l", 0)),
            Operator::StringConcat,
            Arc::new(Column::new("r", 1)),
        );
        let output = operator.evaluate(&batch)?;
        let size = match &output {
            ColumnarValue::Array(a) => a.get_array_memory_size(),
            ColumnarValue::Scalar(s) => s.size(),
        };
        if size > self.max_bytes {
            return Err(too_large("||", self.max_bytes));
        }
        // Scalars in, a scalar out (constant folding expects it).
        match (all_scalar, output) {
            (true, ColumnarValue::Array(a)) if a.len() == 1 => {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
            (_, output) => Ok(output),
        }
    }
}

/// The operators whose output can outgrow their input: values computed,
/// lists unnested, rows joined, recursion.
const GROWING: [&str; 9] = [
    "ProjectionExec",
    "UnnestExec",
    "CrossJoinExec",
    "NestedLoopJoinExec",
    "HashJoinExec",
    "SortMergeJoinExec",
    "SymmetricHashJoinExec",
    "PiecewiseMergeJoinExec",
    "RecursiveQueryExec",
];

/// Puts a [`BoundedExec`] above every operator that can grow its input.
#[derive(Debug)]
struct BoundBatches {
    max_bytes: usize,
}

impl PhysicalOptimizerRule for BoundBatches {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if GROWING.contains(&node.name()) {
                Ok(Transformed::yes(Arc::new(BoundedExec {
                    properties: Arc::clone(node.properties()),
                    input: node,
                    max_bytes: self.max_bytes,
                })
                    as Arc<dyn ExecutionPlan>))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lagoa_bound_batches"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input's batches through, refusing one larger than `max_bytes`,
/// and yields to the scheduler at least every [`YIELD_EVERY`] of work: an
/// operator that makes many batches from little input (an unnest feeding a
/// join feeding a sort) never waits on anything, so without this its task
/// would run on for seconds after the query was cancelled or timed out.
#[derive(Debug)]
pub struct BoundedExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    max_bytes: usize,
}

impl DisplayAs for BoundedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "BoundedExec: max_bytes={}", self.max_bytes)
    }
}

impl ExecutionPlan for BoundedExec {
    fn name(&self) -> &str {
        "BoundedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("BoundedExec needs one child".into()))?;
        Ok(Arc::new(BoundedExec {
            properties: Arc::clone(input.properties()),
            input,
            max_bytes: self.max_bytes,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let schema = stream.schema();
        let max_bytes = self.max_bytes;
        let checked = stream.map(move |batch| {
            let batch: RecordBatch = batch?;
            if batch.get_array_memory_size() > max_bytes {
                return Err(too_large("a batch of the query", max_bytes));
            }
            Ok(batch)
        });
        Ok(make_cooperative(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            YieldingStream {
                inner: Box::pin(checked),
                since: Instant::now(),
            },
        ))))
    }
}

/// Most work a query's task does between two yields, where it can be
/// stopped.
const YIELD_EVERY: Duration = Duration::from_millis(20);

/// Returns `Pending` once (waking itself at once) when its task has worked
/// for [`YIELD_EVERY`] since the last time.
struct YieldingStream<S> {
    inner: Pin<Box<S>>,
    since: Instant,
}

impl<S: Stream> Stream for YieldingStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.since.elapsed() >= YIELD_EVERY {
            self.since = Instant::now();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<usize> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn amplifying_functions_are_refused_before_they_allocate() {
        let ctx = bound_context(&SessionContext::new(), 1 << 20);
        for sql in [
            "SELECT repeat('x', 100000000)",
            "SELECT length(repeat('x', CAST(1e9 AS BIGINT)))",
            "SELECT lpad('x', 100000000)",
            "SELECT rpad('x', 100000000, 'y')",
            "SELECT unnest(generate_series(1, 100000000))",
            "SELECT count(*) FROM (SELECT unnest(range(1, 100000000)) AS x)",
            "SELECT array_repeat('x', 10000000)",
            "SELECT generate_series(TIMESTAMP '1900-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
            "SELECT replace(repeat('a', 100000), 'a', repeat('b', 1000))",
            "SELECT regexp_replace(repeat('a', 100000), 'a', repeat('b', 1000), 'g')",
        ] {
            let e = run(&ctx, sql).await.unwrap_err().to_string();
            assert!(e.contains("Resources exhausted"), "{sql}: {e}");
            assert!(e.contains("query.memory_limit"), "{sql}: {e}");
        }
        // Within the bound, the same functions answer.
        assert_eq!(run(&ctx, "SELECT repeat('x', 1000)").await.unwrap(), 1);
        assert_eq!(
            run(&ctx, "SELECT unnest(generate_series(1, 1000))")
                .await
                .unwrap(),
            1000
        );
    }

    #[tokio::test]
    async fn growth_by_operators_is_caught_at_the_batch() {
        let ctx = bound_context(&SessionContext::new(), 1 << 20);
        // Each step doubles with ||, which is no function.
        let sql = "WITH a AS (SELECT repeat(c, 300000) AS s FROM (VALUES ('x')) v(c)), \
                   b AS (SELECT s || s AS s FROM a), c AS (SELECT s || s AS s FROM b), \
                   d AS (SELECT s || s AS s FROM c) SELECT length(s) FROM d";
        let e = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(e.contains("|| would produce more"), "{e}");
        // The same with constants, folded while planning: the bound holds there too.
        let sql = sql.replace(
            "repeat(c, 300000) AS s FROM (VALUES ('x')) v(c)",
            "repeat('x', 300000) AS s",
        );
        let e = run(&ctx, &sql).await.unwrap_err().to_string();
        assert!(e.contains("|| would produce more"), "{e}");
        // concat() is simplified into another concat by the optimizer: still bounded.
        let sql = "SELECT length(concat(repeat('x', 600000), repeat('y', 600000)))";
        let e = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(e.contains("concat would produce more"), "{e}");
        // The operator keeps its meaning and its name.
        let text = crate::test_support::answer_text(
            ctx.sql("SELECT 'a' || NULL AS n, 'a' || 'b' || 1 AS s")
                .await
                .unwrap(),
        )
        .await;
        assert!(
            text.contains("| n | s   |") && text.contains("|   | ab1 |"),
            "{text}"
        );
        let t = ctx
            .sql("SELECT 'x' || c FROM (VALUES ('y')) v(c)")
            .await
            .unwrap();
        assert_eq!(t.schema().field(0).name(), "Utf8(\"x\") || v.c");
    }
}
