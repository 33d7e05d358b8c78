fn main() -> std::process::ExitCode {
    lagoa_cli::main()
}
