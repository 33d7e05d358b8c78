//! The bounded functions and operator as they travel to another process
//! (a cluster's scheduler and executors): each with its bound, so a query
//! run on a cluster is held to the same `max_bytes` as one run here.

use super::{BoundedConcat, BoundedExec, BoundedFunction, bound_function};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Serialize, Deserialize)]
enum BoundedUdf {
    /// A DataFusion function of that name, wrapped.
    Function { max_bytes: usize },
    /// `left || right`, with the operands' types in Arrow's text form.
    Concat {
        left: String,
        right: String,
        max_bytes: usize,
    },
}

/// The bytes a bounded function travels as, or `None` for any other.
pub fn encode_udf(udf: &ScalarUDF) -> Option<Vec<u8>> {
    let wire = if let Some(f) = udf.inner().downcast_ref::<BoundedFunction>() {
        BoundedUdf::Function {
            max_bytes: f.max_bytes,
        }
    } else if let Some(c) = udf.inner().downcast_ref::<BoundedConcat>() {
        BoundedUdf::Concat {
            left: c.left.to_string(),
            right: c.right.to_string(),
            max_bytes: c.max_bytes,
        }
    } else {
        return None;
    };
    serde_json::to_vec(&wire).ok()
}

/// The bounded function `name` encoded as `buf`, or `None` when `buf`
/// is not a bounded function's.
pub fn decode_udf(name: &str, buf: &[u8]) -> Result<Option<Arc<ScalarUDF>>> {
    let Ok(wire) = serde_json::from_slice::<BoundedUdf>(buf) else {
        return Ok(None);
    };
    let udf = match wire {
        BoundedUdf::Function { max_bytes } => {
            let inner = datafusion_functions().get(name).ok_or_else(|| {
                DataFusionError::Plan(format!("function {name} is not known on this node"))
            })?;
            bound_function(inner.as_ref().clone(), max_bytes)
        }
        BoundedUdf::Concat {
            left,
            right,
            max_bytes,
        } => {
            let data_type = |t: &str| {
                DataType::from_str(t)
                    .map_err(|e| DataFusionError::Plan(format!("operand type {t:?} of ||: {e}")))
            };
            ScalarUDF::new_from_impl(BoundedConcat::new(
                data_type(&left)?,
                data_type(&right)?,
                max_bytes,
            ))
        }
    };
    Ok(Some(Arc::new(udf)))
}

/// DataFusion's own scalar functions, by name.
fn datafusion_functions() -> &'static HashMap<String, Arc<ScalarUDF>> {
    static FUNCTIONS: OnceLock<HashMap<String, Arc<ScalarUDF>>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        SessionStateBuilder::new()
            .with_default_features()
            .build()
            .scalar_functions()
            .clone()
    })
}

/// The bound of a [`BoundedExec`], or `None` for any other operator.
pub fn exec_bound(plan: &dyn ExecutionPlan) -> Option<usize> {
    let any: &dyn std::any::Any = plan;
    any.downcast_ref::<BoundedExec>().map(|b| b.max_bytes)
}

/// A [`BoundedExec`] over `input`.
pub fn bounded_exec(input: Arc<dyn ExecutionPlan>, max_bytes: usize) -> Arc<dyn ExecutionPlan> {
    Arc::new(BoundedExec {
        properties: Arc::clone(input.properties()),
        input,
        max_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_function_and_concat_come_back_with_their_bound() {
        let repeat = datafusion_functions().get("repeat").expect("repeat");
        let bounded = bound_function(repeat.as_ref().clone(), 1234);
        let buf = encode_udf(&bounded).expect("bounded function encodes");
        let back = decode_udf("repeat", &buf)
            .expect("decodes")
            .expect("bounded");
        let f = back
            .inner()
            .downcast_ref::<BoundedFunction>()
            .expect("wrapped");
        assert_eq!(f.max_bytes, 1234);
        assert_eq!(back.name(), "repeat");

        let concat =
            ScalarUDF::new_from_impl(BoundedConcat::new(DataType::Utf8, DataType::Int64, 99));
        let buf = encode_udf(&concat).expect("concat encodes");
        let back = decode_udf("lagoa_bounded_concat", &buf)
            .expect("decodes")
            .expect("bounded");
        let c = back
            .inner()
            .downcast_ref::<BoundedConcat>()
            .expect("concat");
        assert_eq!(
            (c.left.clone(), c.right.clone(), c.max_bytes),
            (DataType::Utf8, DataType::Int64, 99)
        );

        assert!(encode_udf(repeat).is_none(), "a plain function is not ours");
        assert!(
            decode_udf("repeat", b"not ours")
                .expect("no error")
                .is_none()
        );
        assert!(decode_udf("no_such", &encode_udf(&bounded).expect("enc")).is_err());
    }
}
