//! The wire protocol between the Sockt server and the agent inside each
//! sandbox (`sockt-agent`): length-prefixed frames over a Unix socket, a
//! challenge that only a holder of the sandbox's agent secret can answer,
//! and the requests and replies of commands, files and terminals.

pub mod protocol;
