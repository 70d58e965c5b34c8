"""Protobuf message classes for the tests, built from descriptors as ``protoc``'s generated modules build them
(no ``protoc`` needed): ``shop.v1.Order`` (id, item, qty, status enum, tags) in ``orders_v1.proto`` and its
evolutions ``orders_v2.proto`` (adds ``note``: compatible) and ``orders_bad.proto`` (``qty`` turns into a
string: incompatible). Importable by dotted path, e.g. ``tests.schema_registry.proto_messages.OrderV1``."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _file(name: str, extra: list[tuple[str, int, int]]) -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name=name, package="shop.v1", syntax="proto3")
    status = fd.enum_type.add(name="Status")
    for n, v in (("NEW", 0), ("PAID", 1), ("SHIPPED", 2)):
        status.value.add(name=n, number=v)
    msg = fd.message_type.add(name="Order")
    fields = [("id", 1, F.TYPE_INT64), ("item", 2, F.TYPE_STRING), ("qty", 3, F.TYPE_INT32), *extra]
    for fname, number, ftype in fields:
        msg.field.add(name=fname, number=number, type=ftype, label=F.LABEL_OPTIONAL)
    msg.field.add(name="status", number=4, type=F.TYPE_ENUM, type_name=".shop.v1.Status", label=F.LABEL_OPTIONAL)
    msg.field.add(name="tags", number=5, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    return fd


def _message(fd: descriptor_pb2.FileDescriptorProto) -> type:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.v1.Order"))


OrderV1 = _message(_file("orders_v1.proto", []))
OrderV2 = _message(_file("orders_v2.proto", [("note", 6, F.TYPE_STRING)]))
_bad = _file("orders_bad.proto", [])
_bad.message_type[0].field[2].type = F.TYPE_STRING  # qty: int32 -> string
OrderBad = _message(_bad)
