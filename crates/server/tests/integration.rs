//! The server's integration tests, one binary for all: each story file below starts the real server on port 0
//! with a temporary database and rooms-config (`common::spawn_app`). One binary links the server once, not a
//! dozen times, which keeps test builds quicker and smaller. One file's tests: `cargo test -p vayla-server --test
//! integration media::`.

#[macro_use]
mod common;

mod appointment_room;
mod events;
mod feeds;
mod interpreter_assignments;
mod interpreting;
mod login_throttle;
mod media;
mod reports;
mod rooms;
mod scheduling;
mod turn;
mod walkin;
