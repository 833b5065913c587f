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

/// A snapshot's objects held in memory, so backup and restore can run on
/// the calling task and move objects with async requests before or after
/// (for a simulation on a paused clock; see
/// [`Network::in_task_transfers`](crate::Network::in_task_transfers)).
///
/// For a backup it starts from the account's key listing and collects the
/// writer's new objects, uploaded in the order written (chunks before the
/// manifest that names them). For a restore it starts from every object of
/// the account except its log.
#[derive(Default)]
pub(crate) struct StagedStore {
    present: std::sync::Mutex<std::collections::BTreeMap<String, Option<Vec<u8>>>>,
    written: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

/// Largest object a staged restore fetches (the server's default cap is
/// 10 MiB).
const STAGED_MAX_OBJECT: u64 = 16 << 20;

impl StagedStore {
    /// The keys under `prefix`, without their contents: enough to back up.
    pub(crate) async fn listing(client: &ServerClient, prefix: &str) -> Result<Self, ClientError> {
        let keys = client.list_objects(prefix).await?;
        Ok(Self {
            present: std::sync::Mutex::new(keys.into_iter().map(|k| (k, None)).collect()),
            written: std::sync::Mutex::default(),
        })
    }

    /// Every object of `account` a device may read (not the log or the
    /// wraps, which the server keeps): enough to restore.
    pub(crate) async fn fetched(
        client: &ServerClient,
        account: &keylink_keys::AccountId,
    ) -> Result<Self, ClientError> {
        let mut present = std::collections::BTreeMap::new();
        for key in client
            .list_objects(&keylink_server::account_prefix(account))
            .await?
        {
            if !keylink_server::client_key_allowed(account, &key) {
                continue;
            }
            let value = client.get_object(&key, STAGED_MAX_OBJECT).await?;
            present.insert(key, Some(value));
        }
        Ok(Self {
            present: std::sync::Mutex::new(present),
            written: std::sync::Mutex::default(),
        })
    }

    /// Upload what the writer created, in order.
    pub(crate) async fn upload(&self, client: &ServerClient) -> Result<(), ClientError> {
        let written = std::mem::take(&mut *lock(&self.written));
        for (key, value) in written {
            client.put_object(&key, value).await?;
        }
        Ok(())
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store for StagedStore {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let mut present = lock(&self.present);
        if present.contains_key(key.as_str()) {
            return Ok(Put::AlreadyExists);
        }
        present.insert(key.as_str().to_string(), None);
        lock(&self.written).push((key.as_str().to_string(), value.to_vec()));
        Ok(Put::Created)
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        match lock(&self.present).get(key.as_str()) {
            Some(Some(v)) if v.len() > max_len => Err(StoreError::TooLarge {
                key: key.as_str().to_string(),
                len: u64::try_from(v.len()).unwrap_or(u64::MAX),
                max: max_len,
            }),
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Err(unsupported("get a staged object", key.as_str())),
            None => Err(StoreError::NotFound {
                key: key.as_str().to_string(),
            }),
        }
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        Ok(lock(&self.present).contains_key(key.as_str()))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        lock(&self.present)
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| ObjectKey::new(k))
            .collect()
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        Err(unsupported("list with sizes", prefix))
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        Err(unsupported("delete", key.as_str()))
    }
}
