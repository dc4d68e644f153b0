import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The temporary files (and directories created for outputs) that exist right now, so that a
/// terminating signal can remove them before the process dies.
///
/// A signal handler may only call async-signal-safe functions: no allocation, no locks, no
/// reference counting. So the registry is a fixed table allocated once: `capacity` slots of
/// `PATH_MAX + 1` bytes each, every slot with an atomic state
///
/// - `free` → `filling` (a writer claims it with a compare-and-swap and copies the path in)
///   → `file` / `directory` (armed: the handler removes it);
/// - `file` / `directory` → `free` when the writer renames or removes the file itself, again
///   by compare-and-swap, so a slot the handler has claimed (`filling`) is never reused.
///
/// The handler (``installSignalHandlers()``, for SIGINT, SIGTERM and SIGHUP) claims each armed
/// slot, `unlink`s files and then `rmdir`s directories (only empty ones go), restores the
/// default action and re-raises the signal, so the exit status still says which signal ended
/// the process.
///
/// Renaming finished outputs into place (``OutputTransaction/commit()``) is one unit: a
/// signal that arrives while a commit is under way is held until the commit has finished (or
/// rolled back), then acts. `phase` counts commits in progress; −1 means a handler is already
/// cleaning up and the process is about to die.
enum TemporaryFiles {
  static let capacity = 256
  static let slotBytes = Int(PATH_MAX) + 1

  static let free = 0, filling = 1, file = 2, directory = 3

  /// Slot states (see above); allocated once, never freed.
  nonisolated(unsafe) static let states: UnsafeMutablePointer<Atomic<Int>> = {
    let p = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: capacity)
    for i in 0..<capacity { (p + i).initialize(to: Atomic(0)) }
    return p
  }()
  /// `capacity × slotBytes` bytes: slot i's NUL-terminated path at `i × slotBytes`.
  nonisolated(unsafe) static let paths: UnsafeMutablePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: capacity * slotBytes)
    p.initialize(repeating: 0, count: capacity * slotBytes)
    return p
  }()
  /// Commits in progress (≥ 0), or −1 once a handler is removing the files.
  static let phase = Atomic<Int>(0)
  /// A signal that arrived during a commit, to act on when it ends (0: none).
  static let pending = Atomic<Int32>(0)

  /// Records `path` for removal on a signal; returns the slot, or `nil` when the table is full
  /// or the path is longer than `PATH_MAX` (such a file is then only removed by the writer).
  static func register(_ path: String, isDirectory: Bool = false) -> Int? {
    let bytes = Array(path.utf8)
    guard bytes.count < slotBytes, !bytes.contains(0) else { return nil }
    for i in 0..<capacity where states[i].compareExchange(expected: free, desired: filling, ordering: .acquiring).exchanged {
      let slot = paths + i * slotBytes
      for (k, b) in bytes.enumerated() { slot[k] = CChar(bitPattern: b) }
      slot[bytes.count] = 0
      states[i].store(isDirectory ? directory : file, ordering: .releasing)
      return i
    }
    return nil
  }

  /// Forgets slot `i` (the file was renamed or removed by its owner). A slot the handler has
  /// already claimed is left to it.
  static func unregister(_ i: Int?) {
    guard let i else { return }
    for armed in [file, directory] {
      if states[i].compareExchange(expected: armed, desired: free, ordering: .releasing).exchanged { return }
    }
  }

  /// Removes every registered file, then every registered (empty) directory, highest slot
  /// first (a directory's parent was registered before it, so usually in a lower slot).
  /// Async-signal-safe: atomics, `unlink` and `rmdir` only, no allocation.
  static func removeAll() {
    // No array literal here: it would allocate, which a signal handler must not.
    var pass = 0
    while pass < 2 {
      let wanted = pass == 0 ? file : directory
      pass += 1
      var i = capacity - 1
      while i >= 0 {
        if states[i].compareExchange(expected: wanted, desired: filling, ordering: .acquiring).exchanged {
          let slot = paths + i * slotBytes
          if wanted == file { _ = unlink(slot) } else { _ = rmdir(slot) }
        }
        i -= 1
      }
    }
  }

  /// Marks the start of a commit. Returns `false` when a handler is already removing the
  /// files (the process is about to die; the caller must not rename anything).
  static func beginCommit() -> Bool {
    var current = phase.load(ordering: .acquiring)
    while current >= 0 {
      let (exchanged, original) = phase.compareExchange(
        expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
      if exchanged { return true }
      current = original
    }
    return false
  }

  /// Marks the end of a commit; if a signal arrived meanwhile and no other commit is running,
  /// removes what is left and dies of that signal.
  static func endCommit() {
    let left = phase.subtract(1, ordering: .acquiringAndReleasing).newValue
    let signal = pending.load(ordering: .acquiring)
    guard left == 0, signal != 0 else { return }
    if phase.compareExchange(expected: 0, desired: -1, ordering: .acquiringAndReleasing).exchanged {
      die(of: signal)
    }
  }

  /// Removes the registered files and re-raises `signal` with its default action.
  static func die(of signal: Int32) {
    removeAll()
    var action = signalAction(SIG_DFL)
    sigaction(signal, &action, nil)
    // Delivered when the handler returns (the signal is blocked while it runs) or at once
    // outside a handler: the default action ends the process with the right status.
    raise(signal)
  }

  static let handledSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
}

/// The handler of ``TemporaryFiles/installSignalHandlers()``.
private func removeTemporaryFilesAndDie(_ signal: Int32) {
  TemporaryFiles.pending.store(signal, ordering: .releasing)
  // A commit in progress finishes first and then acts on `pending` (endCommit).
  if TemporaryFiles.phase.compareExchange(expected: 0, desired: -1, ordering: .acquiringAndReleasing).exchanged {
    TemporaryFiles.die(of: signal)
  }
}

extension TemporaryFiles {
  /// Installs the handler for SIGINT, SIGTERM and SIGHUP (not for a signal that is ignored,
  /// as under `nohup`). For programs: a library never changes signal handling on its own.
  static func installSignalHandlers() {
    // Initialise every global the handler touches now: it must not run a lazy initialiser.
    _ = states
    _ = paths
    _ = phase.load(ordering: .relaxed)
    _ = pending.load(ordering: .relaxed)
    for signal in handledSignals {
      var old = sigaction()
      guard sigaction(signal, nil, &old) == 0 else { continue }
      #if canImport(Darwin)
        let ignored = unsafeBitCast(old.__sigaction_u.__sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
      #else
        let ignored = unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
      #endif
      if ignored { continue }
      // SA_RESTART: a signal held during a commit returns from the handler; interrupted
      // system calls elsewhere then resume rather than fail with EINTR.
      var action = signalAction(removeTemporaryFilesAndDie, flags: SA_RESTART)
      for other in handledSignals { sigaddset(&action.sa_mask, other) }
      sigaction(signal, &action, nil)
    }
  }
}

/// A `sigaction` running `handler` with no other signal blocked and `flags`.
private func signalAction(_ handler: (@convention(c) (Int32) -> Void)?, flags: Int32 = 0) -> sigaction {
  var action = sigaction()
  #if canImport(Darwin)
    action.__sigaction_u.__sa_handler = handler
  #else
    action.__sigaction_handler.sa_handler = handler
  #endif
  sigemptyset(&action.sa_mask)
  action.sa_flags = flags
  return action
}
