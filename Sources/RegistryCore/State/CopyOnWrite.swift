/// A value kept in one heap box, copied only when written while shared: a copy of the holder costs one
/// retain, whatever the value holds. The registry's state is a handful of these (one per domain), so a
/// copy of the whole state is a handful of retains rather than one per table.
///
/// The holder exposes the value by address (`unsafeAddress { box.address }`, `unsafeMutableAddress {
/// box.uniqueAddress() }`): a read goes straight to the boxed value in place, and a write first makes the
/// box unique, so a copy taken before the write keeps what it saw. (As a property wrapper it was read
/// through a synthesized getter, which copied the whole domain — a retain of each of its arrays — on every
/// access: a fifth of the decision path's time.)
public struct CopyOnWrite<Value: Sendable>: Sendable {
    // @unchecked: a box is written only while uniquely referenced (checked before every write); a shared
    // box is never written, so every holder sees an immutable value. The registry writes its state only
    // under the write lock and reads it under the read lock, so accesses never overlap.
    final class Box: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Value>

        init(_ value: Value) {
            pointer = .allocate(capacity: 1)
            pointer.initialize(to: value)
        }

        deinit {
            pointer.deinitialize(count: 1)
            pointer.deallocate()
        }
    }

    private var box: Box

    public init(_ value: Value) {
        box = Box(value)
    }

    /// The value's address, valid while this holder lives and is not written.
    public var address: UnsafePointer<Value> { UnsafePointer(box.pointer) }

    /// The value's address for a write, after copying the value into a box of its own if it was shared.
    public mutating func uniqueAddress() -> UnsafeMutablePointer<Value> {
        if !isKnownUniquelyReferenced(&box) { box = Box(box.pointer.pointee) }
        return box.pointer
    }
}
