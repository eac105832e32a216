//! The `keyrotor` admin CLI entry point; the commands live in `keyrotor::cli`.

fn main() {
    std::process::exit(keyrotor::cli::main());
}
