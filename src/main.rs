//! apex-ioc-sync: see README.md. Everything lives in the library; this only runs it.

fn main() -> std::process::ExitCode {
    apex_ioc_sync::app::main(std::env::args_os())
}
