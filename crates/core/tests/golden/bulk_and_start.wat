;; Dynamic-cost operators, a passive segment drop and a start function.
(module
  (memory 1)
  (data $d "abc")
  (global $g (mut i32) (i32.const 0))
  (func $start (global.set $g (i32.const 1)))
  (start $start)
  (func (export "entry")
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 100))
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3))
    (data.drop $d)
    (drop (memory.grow (i32.const 1)))))
