//! `airlock-bindings [PATH]`: writes the TypeScript bindings of every console command and
//! event type (default `ui/src/lib/bindings.ts`). `make bindings` runs it; `make lint` runs
//! it into a scratch file and fails when the committed bindings differ.

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/lib/bindings.ts").into()
    });
    if let Err(e) = airlock_console::export_bindings(std::path::Path::new(&path)) {
        eprintln!("airlock-bindings: {e}");
        std::process::exit(1);
    }
}
