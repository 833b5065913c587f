//! Any S3-compatible object store, through the `object_store` crate.
//!
//! Create-if-absent is the store's own conditional write (`If-None-Match:
//! *`), so several keylink servers sharing one bucket can never both create
//! the same object — which is what makes their log appends safe. The [`Store`]
//! trait is synchronous: calls run on a small runtime of this module's own,
//! and must come from outside async code (the server calls stores from
//! `spawn_blocking`).

use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{ObjectKey, Put, Store, StoreError};

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Config {
    /// `http://host:port` or `https://…` (path-style requests).
    pub endpoint: String,
    /// The bucket; it must exist.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Region name (`us-east-1` for most self-hosted stores).
    pub region: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"[redacted]")
            .field("region", &self.region)
            .finish()
    }
}

impl S3Config {
    /// From `http(s)://host:port/bucket`, with the keys in
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` and the region in
    /// `AWS_REGION` (default `us-east-1`).
    ///
    /// # Errors
    /// [`StoreError::InvalidKey`] for a URL without a bucket.
    pub fn from_url_and_env(url: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::InvalidKey {
            reason: "an S3 URL is http(s)://host:port/bucket",
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let (host, bucket) = rest.split_once('/').ok_or_else(bad)?;
        let bucket = bucket.trim_end_matches('/');
        if host.is_empty() || bucket.is_empty() || bucket.contains('/') {
            return Err(bad());
        }
        Ok(Self {
            endpoint: format!("{scheme}://{host}"),
            bucket: bucket.to_string(),
            access_key: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_key: std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        })
    }
}

/// A bucket on an S3-compatible store.
#[derive(Clone, Debug)]
pub struct S3Store {
    inner: Arc<AmazonS3>,
}

/// The runtime that drives S3 requests (never dropped, so a store can be
/// dropped anywhere).
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keylink-s3")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| StoreError::Io {
        op: "start the S3 runtime",
        key: String::new(),
        source: std::io::Error::other(e.clone()),
    })
}

impl S3Store {
    /// Connect to a bucket (no request is made until the first operation).
    ///
    /// # Errors
    /// [`StoreError::Io`] for a configuration the client refuses.
    pub fn connect(config: &S3Config) -> Result<Self, StoreError> {
        // reqwest is built without a default TLS provider: use ring, as
        // everything else here does. Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key)
            .with_secret_access_key(&config.secret_key)
            .with_region(&config.region)
            .with_allow_http(config.endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .build()
            .map_err(|e| s3_err("configure", &config.bucket, e))?;
        Ok(Self {
            inner: Arc::new(s3),
        })
    }
}

fn s3_err(op: &'static str, key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound {
            key: key.to_string(),
        },
        other => StoreError::Io {
            op,
            key: key.to_string(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

impl Store for S3Store {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let path = Path::from(key.as_str());
        let payload = PutPayload::from(value.to_vec());
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let inner = self.inner.clone();
        match runtime()?.block_on(async move { inner.put_opts(&path, payload, opts).await }) {
            Ok(_) => Ok(Put::Created),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Put::AlreadyExists),
            Err(e) => Err(s3_err("put", key.as_str(), e)),
        }
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        let path = Path::from(key.as_str());
        let inner = self.inner.clone();
        let k = key.to_string();
        runtime()?.block_on(async move {
            let result = inner.get(&path).await.map_err(|e| s3_err("get", &k, e))?;
            let len = result.meta.size;
            if len > max_len as u64 {
                // The body is dropped unread.
                return Err(StoreError::TooLarge {
                    key: k,
                    len,
                    max: max_len,
                });
            }
            let bytes = result.bytes().await.map_err(|e| s3_err("get", &k, e))?;
            if bytes.len() > max_len {
                return Err(StoreError::TooLarge {
                    key: k,
                    len: bytes.len() as u64,
                    max: max_len,
                });
            }
            Ok(bytes.to_vec())
        })
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let path = Path::from(key.as_str());
        let inner = self.inner.clone();
        match runtime()?.block_on(async move { inner.head(&path).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_err("exists", key.as_str(), e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        Ok(self
            .list_with_sizes(prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        // object_store lists by whole path segments: list the deepest
        // folder the prefix names, then filter by the exact prefix.
        let dir = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let inner = self.inner.clone();
        let owned_prefix = prefix.to_string();
        runtime()?.block_on(async move {
            let base = if dir.is_empty() {
                None
            } else {
                Some(Path::from(dir))
            };
            let mut stream = inner.list(base.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| s3_err("list", &owned_prefix, e))?;
                let name = meta.location.as_ref();
                let key = name
                    .starts_with(&owned_prefix)
                    .then(|| ObjectKey::new(name).ok())
                    .flatten();
                out.extend(key.map(|k| (k, meta.size)));
            }
            out.sort();
            Ok(out)
        })
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let path = Path::from(key.as_str());
        let inner = self.inner.clone();
        match runtime()?.block_on(async move { inner.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_err("delete", key.as_str(), e)),
        }
    }
}
