"""Layer 1, collection: source contracts, and exports in the landing zone -> the raw lake and quarantine."""

from core.collection.collect import PartitionEmptied, PartitionResult, collect_partition, collect_partitions
from core.collection.contracts import Contract, ContractError, load_contract, load_contracts
from core.collection.files import FileProblem, MissingSource, find_files
from core.collection.writing import partition_path

__all__ = [
    "Contract",
    "ContractError",
    "FileProblem",
    "MissingSource",
    "PartitionEmptied",
    "PartitionResult",
    "collect_partition",
    "collect_partitions",
    "find_files",
    "load_contract",
    "load_contracts",
    "partition_path",
]
