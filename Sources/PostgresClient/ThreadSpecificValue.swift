#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value per OS thread (pthread thread-specific data), for facts about the current thread such as
/// "this is pool worker 3". Values are boxed; each thread's box is released when the thread exits.
final class ThreadSpecificValue<Value>: @unchecked Sendable {
    // The key is created once and never changes; pthread_getspecific/setspecific are thread-safe.
    private var key = pthread_key_t()

    init() {
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<AnyObject>.fromOpaque(pointer).release()
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
    }

    private final class Box {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    var currentValue: Value? {
        get {
            guard let pointer = pthread_getspecific(key) else { return nil }
            return Unmanaged<Box>.fromOpaque(pointer).takeUnretainedValue().value
        }
        set {
            if let old = pthread_getspecific(key) { Unmanaged<AnyObject>.fromOpaque(old).release() }
            let box = newValue.map { Unmanaged.passRetained(Box($0) as AnyObject).toOpaque() }
            pthread_setspecific(key, box)
        }
    }
}
