// OwnerLocks: how the SQLite store tells a live owner from a dead one, exactly.
// One file beside the store (PATH.owners.lock); owner N holds a write lock on
// its byte N for its life. The locks are open-file-description locks
// (F_OFD_SETLK): the kernel drops them when the process ends, however it ends
// (kill -9 included), and unlike POSIX record locks a second descriptor in the
// same process cannot release them by closing. Testing takes no lock
// (F_OFD_GETLK), so a test never stands in an owner's way.
//
// Like the daemon's claim (PATH.daemon.lock) and SQLite's WAL itself, this
// needs the store on a local file system.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nightshift {

class OwnerLocks {
 public:
  // `path`: the lock file; created by hold().
  explicit OwnerLocks(std::string path);
  ~OwnerLocks();  // closes the file: a held lock goes with it
  OwnerLocks(const OwnerLocks&) = delete;
  OwnerLocks& operator=(const OwnerLocks&) = delete;

  // Takes owner `id`'s lock, for as long as this object lives. Throws
  // std::system_error (EAGAIN when another holds it: an id is never reused, so
  // that is a bug or a copied store).
  void hold(std::int64_t id);

  // Those of `ids` whose lock is held by a live process (this one included).
  // A lock file that does not exist holds nothing. Throws std::system_error
  // when it cannot tell.
  std::vector<std::int64_t> live(const std::vector<std::int64_t>& ids) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;  // the held lock's file
};

}  // namespace nightshift
