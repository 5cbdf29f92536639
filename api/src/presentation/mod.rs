//! What REST, MCP and GraphQL share and none of them owns: who is calling
//! (`caller`), the ids it names, parsed once (`ids`), the wire shapes of a sandbox, an execution and a ledger
//! (`wire`), refunds (`refunds`), how file content travels (`encoding`),
//! and where proxied apps live (`proxy_origins`).

pub mod caller;
pub mod encoding;
pub mod ids;
pub mod proxy_origins;
pub mod refunds;
pub mod wire;

pub use caller::{principal_for, Caller};
pub use proxy_origins::ProxyOrigins;
