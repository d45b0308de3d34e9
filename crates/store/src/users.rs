//! Users, their identities, what must be unique per connection (`user_keys`) and their
//! searchable metadata (`user_attrs`).

use crate::{DbResult, Exec, params};

/// Deletes every user whose primary identity is in `connection_id`, with their identities,
/// keys and metadata rows, and every secondary identity of other users in that connection.
/// Returns how many users were deleted. Run it inside the caller's transaction.
pub async fn delete_for_connection(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
) -> DbResult<u64> {
    let owned = "SELECT user_id FROM users WHERE tenant_id = $1 AND connection_id = $2";
    for table in ["user_attrs", "user_keys", "user_identities"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND user_id IN ({owned})"),
            params![tenant, connection_id],
        )
        .await?;
    }
    for table in ["user_keys", "user_identities"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND connection_id = $2"),
            params![tenant, connection_id],
        )
        .await?;
    }
    x.execute(
        "DELETE FROM users WHERE tenant_id = $1 AND connection_id = $2",
        params![tenant, connection_id],
    )
    .await
}
