//! What runs in place of what a query's ticket does not allow: a scan, or
//! the pseudonym function, that fails with the reason when it runs. Ballista reports a task's execution error to the client; an error
//! while decoding a task reaches it only as "rejected by executor".

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use std::sync::Arc;

/// A dataset's scan the ticket does not allow.
#[derive(Debug)]
pub(crate) struct RefusedScan {
    properties: Arc<PlanProperties>,
    reason: String,
}

impl RefusedScan {
    /// In place of `inner` (the scan as decoded), refusing with `reason`.
    pub(crate) fn new(inner: &Arc<dyn ExecutionPlan>, reason: String) -> Self {
        RefusedScan {
            properties: Arc::clone(inner.properties()),
            reason,
        }
    }
}

impl DisplayAs for RefusedScan {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "RefusedScan: {}", self.reason)
    }
}

impl ExecutionPlan for RefusedScan {
    fn name(&self) -> &str {
        "RefusedScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Execution(self.reason.clone()))
    }
}

/// The pseudonym function without its key: as the scheduler plans it (it
/// keeps the ticket, for the executors to check), and where an executor's
/// ticket allows none. Running it fails with `reason`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeylessPseudonym {
    pub(crate) ticket: String,
    reason: String,
    signature: Signature,
}

impl KeylessPseudonym {
    pub(crate) fn udf(ticket: String, reason: String) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(KeylessPseudonym {
            ticket,
            reason,
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for KeylessPseudonym {
    fn name(&self) -> &str {
        "lagoa_pseudonym"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Execution(self.reason.clone()))
    }
}
