//! Writing to standard output without panicking when it is closed: `airlock … --json | head`
//! must end quietly once `head` has read enough, as other command-line tools do.

use std::io::Write;

/// `println!` for the command line's output.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*), true) };
}

/// `print!` for the command line's output.
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*), false) };
}

pub(crate) use {out, outln};

/// Writes `args` (and a newline) to standard output; a closed pipe ends the process with
/// exit code 0, since the reader has all it wanted.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(3);
        }
    }
}
