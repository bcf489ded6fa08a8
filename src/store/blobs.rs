//! Documents' bytes on disk under `COMPTOIR_DATA_DIR`. An upload is streamed
//! into a temporary file (hashing and sizing it on the way) and renamed into
//! place only once its row is written, so a failed upload leaves nothing.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// How many leading bytes are kept to recognise the file type.
const HEAD: usize = 16;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

/// A file being received. Dropped before [`BlobStore::persist`], it is removed.
pub struct TempBlob {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join("documents").join(key)
    }

    pub async fn create_temp(&self) -> io::Result<TempBlob> {
        tokio::fs::create_dir_all(self.tmp_dir()).await?;
        let path = self
            .tmp_dir()
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&path).await?;
        Ok(TempBlob {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(HEAD),
        })
    }

    /// Moves a complete upload to its place under `key` (`account/document`).
    pub async fn persist(&self, mut blob: TempBlob, key: &str) -> io::Result<()> {
        if let Some(mut file) = blob.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let target = self.path_of(key);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&blob.path, &target).await?;
        // Renamed: nothing left for Drop to remove.
        blob.path = PathBuf::new();
        Ok(())
    }

    pub async fn read(&self, key: &str) -> io::Result<Vec<u8>> {
        tokio::fs::read(self.path_of(key)).await
    }

    pub async fn delete(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path_of(key).exists()
    }

    /// Removes the uploads a crash left half-written. Called at start-up,
    /// before the server takes requests (documents live elsewhere, under
    /// `documents/`, and are never touched).
    pub fn clear_temp(&self) -> io::Result<usize> {
        let entries = match std::fs::read_dir(self.tmp_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Files in the temporary directory (tests check none are left behind).
    pub fn temp_files(&self) -> usize {
        std::fs::read_dir(self.tmp_dir()).map_or(0, |d| d.count())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl TempBlob {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        match self.file.as_mut() {
            Some(file) => file.write_all(chunk).await,
            None => Err(io::Error::other("upload already closed")),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first bytes, to recognise the type.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Hex SHA-256 of everything written so far.
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
