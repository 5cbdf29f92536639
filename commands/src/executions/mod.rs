//! The executions use case: commands run in a sandbox (`exec`), their
//! output kept and polled (`output`), the ones running here (`running`),
//! their standard input (`stdin`, `stdin_pipes`) and text decoding.

pub(crate) mod exec;
pub(crate) mod output;
pub(crate) mod running;
pub(crate) mod stdin;
pub(crate) mod stdin_pipes;
pub(crate) mod utf8_stream;
