//! The `log` crate's records (Ballista, rustls and others log through it)
//! into `tracing`, with Ballista's messages redacted on the way: its
//! scheduler and executors report failed tasks and jobs at `warn` and
//! `error` with the engine's error text, and that text quotes the values
//! the engine choked on (a CPF in a failed cast). Every literal goes
//! ([`lagoa_sql::redact::redact`]); the error's class and structure stay.

use tracing_log::LogTracer;

struct RedactingBridge(LogTracer);

impl log::Log for RedactingBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !record.target().starts_with("ballista") {
            return self.0.log(record);
        }
        if !self.0.enabled(record.metadata()) {
            return;
        }
        let redacted = lagoa_sql::redact::redact(&record.args().to_string());
        self.0.log(
            &log::Record::builder()
                .metadata(record.metadata().clone())
                .args(format_args!("{redacted}"))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Sends `log` records to the `tracing` subscriber already installed, up
/// to the most verbose level it takes.
pub(crate) fn install() {
    use tracing_log::AsLog;
    if log::set_boxed_logger(Box::new(RedactingBridge(LogTracer::new()))).is_ok() {
        log::set_max_level(tracing::level_filters::LevelFilter::current().as_log());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;

    /// Catches the messages of the events it sees.
    #[derive(Clone, Default)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().expect("seen").push(message.0);
        }
    }

    #[test]
    fn ballista_s_messages_lose_their_values_and_others_pass_whole() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let bridge = RedactingBridge(LogTracer::new());
            let log = |target: &str, message: std::fmt::Arguments<'_>| {
                bridge.log(
                    &log::Record::builder()
                        .target(target)
                        .level(log::Level::Error)
                        .args(message)
                        .build(),
                );
            };
            log(
                "ballista_executor::execution_loop",
                format_args!(
                    "Failed to run task: Cannot cast string '52998224725' to value of Date32 type"
                ),
            );
            log(
                "rustls::client",
                format_args!("connected to 127.0.0.1:50050"),
            );
        });
        let seen = seen.0.lock().expect("seen").clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(!seen[0].contains("52998224725"), "{seen:?}");
        assert!(seen[0].contains("Cannot cast string"), "{seen:?}");
        assert!(seen[1].contains("127.0.0.1:50050"), "{seen:?}");
    }
}
