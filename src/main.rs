//! apex-ioc-sync: see README.md. Everything lives in the library; this only runs it.

/// mimalloc: a TAXII ingest allocates and frees millions of small strings across two
/// threads, where glibc's allocator spent a quarter of the parsing thread's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    apex_ioc_sync::app::main(std::env::args_os())
}
