/// The allocator of every Lagoa process. glibc's returns the large buffers a
/// query decodes into to the kernel and faults fresh zeroed pages in on the
/// next query (a fifth of a served full scan's time went to page faults);
/// jemalloc keeps and reuses them: the served full scan took 23-25 ms
/// instead of 31 (issue 17). mimalloc, tried first, was slower on a query
/// that builds huge strings: it reached the query deadline before the
/// memory limit could refuse it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    lagoa_cli::main()
}
