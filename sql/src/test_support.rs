//! What the crate's tests share.

use datafusion::prelude::DataFrame;

/// A query's whole answer as a printed table, to look for values in.
pub(crate) async fn answer_text(df: DataFrame) -> String {
    let batches = df.collect().await.expect("the query runs");
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("the answer prints")
        .to_string()
}
