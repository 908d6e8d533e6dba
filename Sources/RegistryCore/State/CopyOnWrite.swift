/// A value kept in one heap box, copied only when written while shared: a copy of the holder costs one
/// retain, whatever the value holds. The registry's state is a handful of these (one per domain), so a
/// copy of the whole state is a handful of retains rather than one per table.
///
/// Reads borrow the boxed value in place (`_read`); a write first makes the box unique (`_modify`), so a
/// copy taken before the write keeps what it saw.
@propertyWrapper
public struct CopyOnWrite<Value: Sendable>: Sendable {
    // @unchecked: a box is written only while uniquely referenced (checked in `_modify`); a shared box is
    // never written, so every holder sees an immutable value.
    final class Box: @unchecked Sendable {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    public init(wrappedValue: Value) {
        box = Box(wrappedValue)
    }

    public var wrappedValue: Value {
        _read { yield box.value }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
        }
    }
}
