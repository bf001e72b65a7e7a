fn main() -> std::process::ExitCode {
    kiteline::cli::main()
}
