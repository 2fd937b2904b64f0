// A SQLite VFS for tests that makes writes fail on demand: it wraps the default VFS, forwards
// everything, and while a fault is armed makes xWrite fail with the fault's code (SQLITE_FULL
// for a full disk, SQLITE_IOERR_WRITE for an I/O error) and xSync and xTruncate with
// SQLITE_IOERR_FSYNC / SQLITE_IOERR_TRUNCATE. Installed once per process as the default VFS
// (sqlite3_vfs_register with makeDflt=1), so a journal opened after install() uses it without
// any hook in the daemon; with no fault armed it changes nothing.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace cxlmgr::daemon::testing {

class FaultyVfs {
public:
    // Registers the wrapper as the default VFS on first use.
    static FaultyVfs& install() {
        static FaultyVfs* instance = new FaultyVfs();  // never unregistered: files may outlive
        return *instance;
    }

    // From now on, write calls (xWrite, xSync, xTruncate) after the first `spared` fail; `rc` is
    // xWrite's code.
    void fail(int rc, uint64_t spared = 0) {
        spared_ = static_cast<int64_t>(spared);
        rc_ = rc;
    }
    void heal() { rc_ = SQLITE_OK; }
    // Write calls failed so far.
    [[nodiscard]] uint64_t faults() const { return faults_.load(); }

private:
    struct File {
        sqlite3_file base;  // first: SQLite sees a File as a sqlite3_file
        sqlite3_file* real;
    };

    FaultyVfs() {
        sqlite3_vfs* dflt = sqlite3_vfs_find(nullptr);
        real_ = dflt;
        vfs_ = *dflt;
        vfs_.zName = "cxlmgr-faulty";
        vfs_.szOsFile = static_cast<int>(sizeof(File)) + dflt->szOsFile;
        vfs_.xOpen = &FaultyVfs::open;
        vfs_.pAppData = this;
        sqlite3_vfs_register(&vfs_, 1);
    }

    // Whether this write call fails.
    bool inject() {
        if (rc_.load() == SQLITE_OK || spared_.fetch_sub(1) > 0) {
            return false;
        }
        ++faults_;
        return true;
    }

    static FaultyVfs& me() { return install(); }
    static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

    static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
                    int* out_flags) {
        auto* me = static_cast<FaultyVfs*>(vfs->pAppData);
        auto* wrapped = reinterpret_cast<File*>(file);
        wrapped->real = reinterpret_cast<sqlite3_file*>(wrapped + 1);
        int rc = me->real_->xOpen(me->real_, name, wrapped->real, flags, out_flags);
        wrapped->base.pMethods = wrapped->real->pMethods ? &kMethods : nullptr;
        return rc;
    }

    static int close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
    static int read(sqlite3_file* f, void* buf, int n, sqlite3_int64 at) {
        return real(f)->pMethods->xRead(real(f), buf, n, at);
    }
    static int write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 at) {
        if (me().inject()) {
            return me().rc_.load();
        }
        return real(f)->pMethods->xWrite(real(f), buf, n, at);
    }
    static int truncate(sqlite3_file* f, sqlite3_int64 size) {
        if (me().inject()) {
            return SQLITE_IOERR_TRUNCATE;
        }
        return real(f)->pMethods->xTruncate(real(f), size);
    }
    static int sync(sqlite3_file* f, int flags) {
        if (me().inject()) {
            return SQLITE_IOERR_FSYNC;
        }
        return real(f)->pMethods->xSync(real(f), flags);
    }
    static int file_size(sqlite3_file* f, sqlite3_int64* size) {
        return real(f)->pMethods->xFileSize(real(f), size);
    }
    static int lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
    static int unlock(sqlite3_file* f, int level) {
        return real(f)->pMethods->xUnlock(real(f), level);
    }
    static int check_reserved(sqlite3_file* f, int* out) {
        return real(f)->pMethods->xCheckReservedLock(real(f), out);
    }
    static int file_control(sqlite3_file* f, int op, void* arg) {
        return real(f)->pMethods->xFileControl(real(f), op, arg);
    }
    static int sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
    static int device_characteristics(sqlite3_file* f) {
        return real(f)->pMethods->xDeviceCharacteristics(real(f));
    }
    // WAL needs the shared-memory methods (version 2) and may use mmap (version 3).
    static int shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
        if (real(f)->pMethods->iVersion < 2) {
            return SQLITE_IOERR_SHMMAP;
        }
        return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
    }
    static int shm_lock(sqlite3_file* f, int offset, int n, int flags) {
        if (real(f)->pMethods->iVersion < 2) {
            return SQLITE_IOERR_SHMLOCK;
        }
        return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
    }
    static void shm_barrier(sqlite3_file* f) {
        if (real(f)->pMethods->iVersion >= 2) {
            real(f)->pMethods->xShmBarrier(real(f));
        }
    }
    static int shm_unmap(sqlite3_file* f, int remove) {
        if (real(f)->pMethods->iVersion < 2) {
            return SQLITE_OK;
        }
        return real(f)->pMethods->xShmUnmap(real(f), remove);
    }
    static int fetch(sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
        if (real(f)->pMethods->iVersion < 3) {
            *out = nullptr;
            return SQLITE_OK;
        }
        return real(f)->pMethods->xFetch(real(f), at, n, out);
    }
    static int unfetch(sqlite3_file* f, sqlite3_int64 at, void* p) {
        if (real(f)->pMethods->iVersion < 3) {
            return SQLITE_OK;
        }
        return real(f)->pMethods->xUnfetch(real(f), at, p);
    }

    static constexpr sqlite3_io_methods kMethods = {
        3,
        &close,
        &read,
        &write,
        &truncate,
        &sync,
        &file_size,
        &lock,
        &unlock,
        &check_reserved,
        &file_control,
        &sector_size,
        &device_characteristics,
        &shm_map,
        &shm_lock,
        &shm_barrier,
        &shm_unmap,
        &fetch,
        &unfetch,
    };

    sqlite3_vfs vfs_{};
    sqlite3_vfs* real_ = nullptr;
    std::atomic<int> rc_{SQLITE_OK};
    std::atomic<int64_t> spared_{0};
    std::atomic<uint64_t> faults_{0};
};

}  // namespace cxlmgr::daemon::testing
