//! Build script: only tells Cargo to rebuild this crate when a migration file changes, because
//! `sqlx::migrate!` embeds the SQL at compile time and would otherwise keep serving stale migrations.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
