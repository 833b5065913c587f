//! The server's object storage as a [`Store`], so backup and restore run
//! against a keylink server exactly as against a local folder.
//!
//! The store trait is blocking; this adapter runs each request on the
//! runtime that owns the connection. Call it from a blocking thread
//! (`tokio::task::spawn_blocking`), never from inside an async task.

use keylink_server::{ClientError, ServerClient};
use keylink_store::{ObjectKey, Put, Store, StoreError};
use keylink_wire::server::FailureCode;
use tokio::runtime::Handle;

/// Objects under the authenticated account, through the server.
#[derive(Clone)]
pub struct RemoteStore {
    client: ServerClient,
    runtime: Handle,
}

impl RemoteStore {
    /// A store over `client` (authenticated), running requests on `runtime`.
    pub fn new(client: ServerClient, runtime: Handle) -> Self {
        Self { client, runtime }
    }
}

fn io(op: &'static str, key: &str, e: ClientError) -> StoreError {
    StoreError::Io {
        op,
        key: key.to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn unsupported(op: &'static str, key: &str) -> StoreError {
    StoreError::Io {
        op,
        key: key.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the keylink server does not offer this",
        ),
    }
}

impl Store for RemoteStore {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let created = self
            .runtime
            .block_on(self.client.put_object(key.as_str(), value.to_vec()))
            .map_err(|e| io("put", key.as_str(), e))?;
        Ok(if created {
            Put::Created
        } else {
            Put::AlreadyExists
        })
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        let max = u64::try_from(max_len).unwrap_or(u64::MAX);
        match self
            .runtime
            .block_on(self.client.get_object(key.as_str(), max))
        {
            Ok(v) => Ok(v),
            Err(e) => Err(match e.code() {
                Some(FailureCode::NotFound) => StoreError::NotFound {
                    key: key.as_str().to_string(),
                },
                Some(FailureCode::TooLarge) => StoreError::TooLarge {
                    key: key.as_str().to_string(),
                    len: max.saturating_add(1),
                    max: max_len,
                },
                _ => io("get", key.as_str(), e),
            }),
        }
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        Ok(self.list(key.as_str())?.iter().any(|k| k == key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        let keys = self
            .runtime
            .block_on(self.client.list_objects(prefix))
            .map_err(|e| io("list", prefix, e))?;
        let mut out = keys
            .iter()
            .filter(|k| k.starts_with(prefix))
            .map(|k| ObjectKey::new(k))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort();
        Ok(out)
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        Err(unsupported("list with sizes", prefix))
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        Err(unsupported("delete", key.as_str()))
    }
}
