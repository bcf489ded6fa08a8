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

    /// Removes every e-invoice file of `account` (a deleted test account's).
    pub fn remove_account_e_invoices(&self, account: &str) -> io::Result<()> {
        match std::fs::remove_dir_all(self.e_invoices_dir().join(account)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn e_invoices_dir(&self) -> PathBuf {
        self.root.join("einvoices")
    }

    /// `einvoices/<account>/<sha256>.<ext>`: named by their content, so a
    /// finalization that loses a race or rolls back never overwrites the
    /// file of one that committed.
    fn e_invoice_path(&self, account: &str, sha256: &str, ext: &str) -> PathBuf {
        self.e_invoices_dir()
            .join(account)
            .join(format!("{sha256}.{ext}"))
    }

    /// Writes an e-invoice file (synced, then renamed into place) and
    /// returns its hex SHA-256; [`BlobStore::sync_e_invoices`] then makes
    /// the renames durable. The same bytes twice are one file.
    pub async fn put_e_invoice(
        &self,
        account: &str,
        ext: &str,
        bytes: &[u8],
    ) -> io::Result<String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let target = self.e_invoice_path(account, &sha256, ext);
        if let Ok(meta) = tokio::fs::metadata(&target).await
            && meta.len() == bytes.len() as u64
        {
            return Ok(sha256);
        }
        let mut blob = self.create_temp().await?;
        blob.write(bytes).await?;
        if let Some(mut file) = blob.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::rename(&blob.path, &target).await?;
        blob.path = PathBuf::new();
        Ok(sha256)
    }

    /// Syncs the account's e-invoice directory: the files renamed into it
    /// survive a crash from now on (one sync for a document's three files).
    pub async fn sync_e_invoices(&self, account: &str) -> io::Result<()> {
        tokio::fs::File::open(self.e_invoices_dir().join(account))
            .await?
            .sync_all()
            .await
    }

    /// An e-invoice file's bytes.
    pub async fn read_e_invoice(
        &self,
        account: &str,
        sha256: &str,
        ext: &str,
    ) -> io::Result<Vec<u8>> {
        tokio::fs::read(self.e_invoice_path(account, sha256, ext)).await
    }

    /// Every e-invoice file on disk, with its account, hash and age.
    pub fn e_invoice_files(&self) -> io::Result<Vec<StoredFile>> {
        let mut files = Vec::new();
        let accounts = match std::fs::read_dir(self.e_invoices_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(e),
        };
        for account in accounts {
            let account = account?;
            if !account.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(account.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                let Some((sha256, _)) = name.split_once('.') else {
                    continue;
                };
                files.push(StoredFile {
                    account: account.file_name().to_string_lossy().into_owned(),
                    sha256: sha256.to_owned(),
                    modified: file.metadata()?.modified()?,
                    path: file.path(),
                });
            }
        }
        Ok(files)
    }

    /// Removes one file listed by [`BlobStore::e_invoice_files`].
    pub fn remove_file(&self, file: &StoredFile) -> io::Result<()> {
        match std::fs::remove_file(&file.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// An e-invoice file found on disk.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub account: String,
    pub sha256: String,
    pub modified: std::time::SystemTime,
    pub path: PathBuf,
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
