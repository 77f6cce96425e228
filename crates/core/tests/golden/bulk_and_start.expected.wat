(module
  (type (;0;) (func))
  (memory (;0;) 1)
  (memory (;1;) 9 9)
  (global $g (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i64) i64.const 0)
  (global (;2;) (mut i64) i64.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i32) i32.const 0)
  (global (;5;) (mut i32) i32.const 0)
  (global (;6;) (mut i32) i32.const 0)
  (global (;7;) (mut i64) i64.const 0)
  (export "entry" (func 0))
  (export "__ws_g0" (global $g))
  (export "__ws_drop0" (global 7))
  (export "__ws_gas" (global 1))
  (export "__ws_gas_saved" (global 2))
  (export "__ws_state" (global 3))
  (export "__ws_uw_ptr" (global 4))
  (export "__ws_depth" (global 5))
  (export "__ws_wrote" (global 6))
  (export "__ws_unwind" (memory 1))
  (export "__ws_restore_drops" (func $__ws_restore_drops))
  (export "__ws_mem" (memory 0))
  (export "__ws_start" (func $start))
  (func (;0;) (type 0)
    (local i32 i32 i32 i32 i32 i64)
    block (result i32) ;; label = @1
      block (result i32) ;; label = @2
        block ;; label = @3
          block ;; label = @4
            block ;; label = @5
              global.get 1
              i64.const 12
              i64.sub
              local.tee 5
              i64.const 4611686018427387904
              i64.ge_u
              if ;; label = @6
                global.get 3
                if ;; label = @7
                  global.get 4
                  i32.const 32
                  i32.sub
                  local.tee 4
                  global.set 4
                  local.get 4
                  i32.load 1
                  i32.const 1
                  i32.ne
                  if ;; label = @8
                    call $__ws_trap_corrupt_unwind
                    unreachable
                  else
                  end
                  local.get 4
                  i32.load 1 offset=4
                  local.tee 0
                  i32.const 1
                  i32.sub
                  i32.const 4
                  i32.ge_u
                  if ;; label = @8
                    call $__ws_trap_corrupt_unwind
                    unreachable
                  else
                  end
                  local.get 4
                  i32.load 1 offset=8
                  local.set 3
                  local.get 4
                  i32.load 1 offset=16
                  local.set 2
                  local.get 4
                  i32.load 1 offset=24
                  local.set 1
                  local.get 0
                  i32.const 1
                  i32.eq
                  if ;; label = @8
                    i32.const 0
                    global.set 3
                    global.get 2
                    local.set 5
                    i32.const 0
                    local.set 0
                  else
                  end
                else
                  i32.const 1
                  global.set 3
                  i32.const 1
                  br 6 (;@1;)
                end
              else
                br 1 (;@5;)
              end
              local.get 0
              i32.eqz
              if ;; label = @6
                i32.const 0
                i32.const 1
                i32.const 100
                local.set 3
                local.set 2
                local.set 1
              else
              end
              block ;; label = @6
                local.get 0
                if ;; label = @7
                  local.get 0
                  i32.const 2
                  i32.ne
                  br_if 1 (;@6;)
                else
                end
                local.get 5
                local.get 3
                i64.extend_i32_u
                i64.const 7
                i64.add
                i64.const 3
                i64.shr_u
                i64.const 1
                i64.mul
                i64.sub
                local.tee 5
                i64.const 0
                i64.lt_s
                if ;; label = @7
                  i32.const 1
                  global.set 3
                  i32.const 2
                  br 6 (;@1;)
                else
                end
                local.get 0
                if ;; label = @7
                  i32.const 0
                  global.set 3
                  global.get 2
                  local.set 5
                  i32.const 0
                  local.set 0
                else
                end
                local.get 1
                local.get 2
                local.get 3
                i32.const 1
                global.set 6
                memory.fill
              end
              local.get 0
              i32.eqz
              if ;; label = @6
                i32.const 0
                i32.const 0
                i32.const 3
                local.set 1
                local.set 2
                local.set 3
              else
              end
              block ;; label = @6
                local.get 0
                if ;; label = @7
                  local.get 0
                  i32.const 3
                  i32.ne
                  br_if 1 (;@6;)
                else
                end
                local.get 5
                local.get 1
                i64.extend_i32_u
                i64.const 7
                i64.add
                i64.const 3
                i64.shr_u
                i64.const 1
                i64.mul
                i64.sub
                local.tee 5
                i64.const 0
                i64.lt_s
                if ;; label = @7
                  i32.const 1
                  global.set 3
                  i32.const 3
                  br 6 (;@1;)
                else
                end
                local.get 0
                if ;; label = @7
                  i32.const 0
                  global.set 3
                  global.get 2
                  local.set 5
                  i32.const 0
                  local.set 0
                else
                end
                local.get 3
                local.get 2
                local.get 1
                i32.const 1
                global.set 6
                memory.init $d
              end
              local.get 0
              i32.eqz
              if ;; label = @6
                data.drop $d
                global.get 7
                i64.const 1
                i64.or
                global.set 7
                i32.const 1
                local.set 1
              else
              end
              block ;; label = @6
                local.get 0
                if ;; label = @7
                  local.get 0
                  i32.const 4
                  i32.ne
                  br_if 1 (;@6;)
                else
                end
                local.get 5
                local.get 1
                i64.extend_i32_u
                i64.const 64
                i64.mul
                i64.sub
                local.tee 5
                i64.const 0
                i64.lt_s
                if ;; label = @7
                  i32.const 0
                  local.set 3
                  i32.const 1
                  global.set 3
                  i32.const 4
                  br 6 (;@1;)
                else
                end
                local.get 0
                if ;; label = @7
                  i32.const 0
                  global.set 3
                  global.get 2
                  local.set 5
                  i32.const 0
                  local.set 0
                else
                end
                local.get 1
                memory.grow
                local.set 2
              end
              local.get 2
              drop
              br 1 (;@4;)
            end
            block ;; label = @5
              i32.const 0
              i32.const 1
              i32.const 100
              local.set 3
              local.set 2
              local.set 1
            end
            block ;; label = @5
              local.get 5
              local.get 3
              i64.extend_i32_u
              i64.const 7
              i64.add
              i64.const 3
              i64.shr_u
              i64.const 1
              i64.mul
              i64.sub
              local.tee 5
              i64.const 0
              i64.lt_s
              if ;; label = @6
                i32.const 1
                global.set 3
                i32.const 2
                br 5 (;@1;)
              else
              end
              local.get 1
              local.get 2
              local.get 3
              i32.const 1
              global.set 6
              memory.fill
            end
            block ;; label = @5
              i32.const 0
              i32.const 0
              i32.const 3
              local.set 1
              local.set 2
              local.set 3
            end
            block ;; label = @5
              local.get 5
              local.get 1
              i64.extend_i32_u
              i64.const 7
              i64.add
              i64.const 3
              i64.shr_u
              i64.const 1
              i64.mul
              i64.sub
              local.tee 5
              i64.const 0
              i64.lt_s
              if ;; label = @6
                i32.const 1
                global.set 3
                i32.const 3
                br 5 (;@1;)
              else
              end
              local.get 3
              local.get 2
              local.get 1
              i32.const 1
              global.set 6
              memory.init $d
            end
            block ;; label = @5
              data.drop $d
              global.get 7
              i64.const 1
              i64.or
              global.set 7
              i32.const 1
              local.set 1
            end
            block ;; label = @5
              local.get 5
              local.get 1
              i64.extend_i32_u
              i64.const 64
              i64.mul
              i64.sub
              local.tee 5
              i64.const 0
              i64.lt_s
              if ;; label = @6
                i32.const 0
                local.set 3
                i32.const 1
                global.set 3
                i32.const 4
                br 5 (;@1;)
              else
              end
              local.get 1
              memory.grow
              local.set 2
            end
            local.get 2
            drop
          end
        end
        local.get 5
        global.set 1
        return
      end
      global.get 3
      i32.const 0
      i32.ne
      i32.add
      i32.const 1
      global.set 3
    end
    local.get 5
    global.set 1
    local.set 0
    global.get 4
    local.set 4
    local.get 4
    i32.const 1
    i32.store 1
    local.get 4
    local.get 0
    i32.store 1 offset=4
    local.get 4
    local.get 3
    i64.extend_i32_u
    i64.store 1 offset=8
    local.get 4
    local.get 2
    i64.extend_i32_u
    i64.store 1 offset=16
    local.get 4
    local.get 1
    i64.extend_i32_u
    i64.store 1 offset=24
    local.get 4
    i32.const 32
    i32.add
    global.set 4
  )
  (func $start (;1;) (type 0)
    global.get 1
    i64.const 2
    i64.sub
    global.set 1
    i32.const 1
    global.set $g
  )
  (func $__ws_restore_drops (;2;) (type 0)
    global.get 7
    i64.const 1
    i64.and
    i64.eqz
    if ;; label = @1
    else
      data.drop $d
    end
  )
  (func $__ws_trap_call_depth (;3;) (type 0)
    unreachable
  )
  (func $__ws_trap_corrupt_unwind (;4;) (type 0)
    unreachable
  )
  (data $d (;0;) "abc")
)
