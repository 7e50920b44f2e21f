"""The few ONNX protobuf fields the bench scripts write by hand (the onnx
package is not assumed): varints, length-delimited fields and float tensor
value infos."""


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire, payload):
    """Field `number` of wire type 0 (varint `payload`) or 2 (bytes)."""
    key = varint((number << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def value_info(name, dims):
    """A ValueInfoProto of a float tensor of static `dims`."""
    shape = b"".join(field(1, 2, field(1, 0, d)) for d in dims)
    tensor = field(1, 0, 1) + field(2, 2, shape)  # elem_type FLOAT, shape
    return field(1, 2, name.encode()) + field(2, 2, field(1, 2, tensor))
