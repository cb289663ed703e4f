//! `airlock-bindings [PATH]`: writes the TypeScript bindings of every console command and
//! event type (default `ui/src/lib/bindings.ts`). `make bindings` runs it; `make lint` runs
//! it into a scratch file and fails when the committed bindings differ.

fn main() {
    // The folder cargo runs it for, read at run time: a binary built in another checkout
    // that shares the target folder must not write that checkout's file.
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        format!("{dir}/../ui/src/lib/bindings.ts")
    });
    if let Err(e) = airlock_console::export_bindings(std::path::Path::new(&path)) {
        eprintln!("airlock-bindings: {e}");
        std::process::exit(1);
    }
}
