#!/bin/bash
# The camera benchmarks of BENCHMARKS.md (issue 14), one after the other.
cd "$(dirname "$0")/.."
for spec in "panda front 64" "flywheel_humanoid front 32" "flywheel_humanoid front head right_wrist 16"; do
  set -- $spec; robot=$1; shift; n=${@: -1}; cams=${@:1:$#-1}
  name=${robot}_pick_place_$(echo $cams | tr ' ' '+')
  /usr/bin/time -f "%e s" .venv/bin/flywheel bench --task pick_place --robot $robot --camera $cams --workers 1 \
     --episodes $n --repeats 1 --out bench-out/camera/$name > /dev/null
done
