(module
  (type (;0;) (func))
  (type (;1;) (func (result i32)))
  (type (;2;) (func (param i32) (result i32)))
  (type (;3;) (func (param i32) (result i32 i32)))
  (memory (;0;) 9 9)
  (global (;0;) (mut i64) i64.const 0)
  (global (;1;) (mut i64) i64.const 0)
  (global (;2;) (mut i32) i32.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i32) i32.const 0)
  (global (;5;) (mut i32) i32.const 0)
  (export "entry" (func 0))
  (export "__ws_gas" (global 0))
  (export "__ws_gas_saved" (global 1))
  (export "__ws_state" (global 2))
  (export "__ws_uw_ptr" (global 3))
  (export "__ws_depth" (global 4))
  (export "__ws_wrote" (global 5))
  (export "__ws_unwind" (memory 0))
  (export "__ws_restore_drops" (func $__ws_restore_drops))
  (func (;0;) (type 1) (result i32)
    (local i32 i32 i64)
    block (result i32) ;; label = @1
      block (result i32) ;; label = @2
        block (result i32) ;; label = @3
          global.get 0
          i64.const 5
          i64.sub
          local.tee 2
          i64.const 4611686018427387904
          i64.ge_u
          if ;; label = @4
            global.get 2
            if ;; label = @5
              global.get 3
              i32.const 8
              i32.sub
              local.tee 1
              global.set 3
              local.get 1
              i32.load
              i32.const 1
              i32.ne
              if ;; label = @6
                call $__ws_trap_corrupt_unwind
                unreachable
              else
              end
              local.get 1
              i32.load offset=4
              local.tee 0
              i32.const 1
              i32.sub
              i32.const 1
              i32.ge_u
              if ;; label = @6
                call $__ws_trap_corrupt_unwind
                unreachable
              else
              end
              local.get 0
              i32.const 1
              i32.eq
              if ;; label = @6
                i32.const 0
                global.set 2
                global.get 1
                local.set 2
                i32.const 0
                local.set 0
              else
              end
            else
              i32.const 1
              global.set 2
              i32.const 1
              br 4 (;@1;)
            end
          else
          end
          i32.const 100
          i32.const 5
          block (type 3) (param i32) (result i32 i32) ;; label = @4
            i32.const 3
            local.get 2
            global.set 0
            call $f
            global.get 0
            local.set 2
          end
          local.get 2
          i64.const 4
          i64.sub
          local.set 2
          i32.add
          i32.add
          i32.const 1
          if (result i32) ;; label = @4
            local.get 2
            i64.const 2
            i64.sub
            local.set 2
            i32.const 1
            local.get 2
            global.set 0
            call $f
            global.get 0
            local.set 2
          else
            local.get 2
            i64.const 1
            i64.sub
            local.set 2
            i32.const 0
          end
          local.get 2
          i64.const 1
          i64.sub
          local.set 2
          i32.add
        end
        local.get 2
        global.set 0
        return
      end
      global.get 2
      i32.const 0
      i32.ne
      i32.add
      i32.const 1
      global.set 2
    end
    local.get 2
    global.set 0
    local.set 0
    global.get 3
    local.set 1
    local.get 1
    i32.const 1
    i32.store
    local.get 1
    local.get 0
    i32.store offset=4
    local.get 1
    i32.const 8
    i32.add
    global.set 3
    i32.const 0
  )
  (func $f (;1;) (type 2) (param i32) (result i32)
    global.get 0
    i64.const 3
    i64.sub
    global.set 0
    local.get 0
    i32.const 2
    i32.mul
  )
  (func $__ws_trap_call_depth (;2;) (type 0)
    unreachable
  )
  (func $__ws_trap_corrupt_unwind (;3;) (type 0)
    unreachable
  )
  (func $__ws_restore_drops (;4;) (type 0))
)
